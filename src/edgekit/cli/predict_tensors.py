"""Raw tensors in, raw tensors out: ``edgekit predict MODEL --input name=FILE.npy | --inputs FILE.npz``.

Works for any model file the runtime loads (tensor models and tabular exports alike, via
``run``). Arrays are read with ``allow_pickle=False``; outputs go to an ``.npz`` written
atomically, or to stdout as JSON when they are small.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from edgekit.runtime.errors import ConfigError, DataError

# Outputs larger than this many values are not printed as JSON: they need --out.
MAX_PRINTED_VALUES = 10_000


def read_feeds(inputs_npz: Path | None, pairs: Sequence[str], json_feeds: str | None) -> dict[str, Any]:
    """Feeds from an .npz, NAME=FILE.npy pairs (which override it) and/or a JSON object."""
    feeds: dict[str, Any] = {}
    if inputs_npz is not None:
        feeds.update(load_npz(inputs_npz))
    for pair in pairs:
        name, sep, file = pair.partition("=")
        if not sep or not name or not file:
            raise ConfigError(f"--input {pair!r} is not NAME=FILE.npy", hint="e.g. --input audio=clip.npy")
        feeds[name] = load_npy(Path(file))
    if json_feeds is not None:
        try:
            data = json.loads(json_feeds)
        except ValueError as exc:
            raise DataError(f"--json is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise DataError("--json for a tensor model must be an object of input name -> nested list")
        feeds.update(data)
    return feeds


def load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except (OSError, ValueError) as exc:  # not an .npy file, object arrays (pickle) refused
        raise DataError(f"{path}: not a readable .npy array ({_first_line(exc)})") from exc


def load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DataError(f"{path}: an .npy array, not an .npz archive", hint="use --input NAME=FILE.npy")
            return {name: archive[name] for name in archive.files}
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({_first_line(exc)})") from exc


def write_npz(path: Path, outputs: Mapping[str, np.ndarray]) -> None:
    from edgekit.runtime.io import write_bytes

    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in outputs.items()})
    write_bytes(path, buffer.getvalue())


def outputs_as_json(outputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
    total = sum(np.asarray(v).size for v in outputs.values())
    if total > MAX_PRINTED_VALUES:
        raise ConfigError(f"the outputs hold {total} values, too many to print", hint="write them with --out OUT.npz")
    return {name: {"dtype": str(np.asarray(v).dtype), "shape": list(np.shape(v)), "data": _plain(np.asarray(v))}
            for name, v in outputs.items()}


def _plain(value: np.ndarray) -> Any:
    if value.dtype.kind in "OSU":
        flat = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in value.reshape(-1).tolist()]
        return np.asarray(flat, dtype=object).reshape(value.shape).tolist()
    return value.tolist()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
