"""The output folder of a batch-scoring run: Parquet parts plus a small manifest.

The manifest (``_edgekit_predict.json``; Parquet readers skip names starting with ``_``)
records the run's identity (model sha256, INPUT, options, input files) and, when the run
ends, each part with its row count. Every part also carries the run id and its piece's key
in its own Parquet metadata, so a rerun can trust what it finds on disk even if the driver
died before it updated the manifest.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

from edgekit.runtime.errors import ConfigError
from edgekit.runtime.io import write_text
from edgekit.scale.plan import Piece
from edgekit.scale.worker import PART_METADATA_KEY

MANIFEST_NAME = "_edgekit_predict.json"
FORMAT = "edgekit.scale.predict/1"
_OURS = re.compile(r"(part-\d+\.parquet|\.part-\d+\.parquet\..*\.tmp|_edgekit_predict\.json|\._edgekit_predict\.json\..*\.tmp)")


def prepare_output(out: Path, identity: dict, pieces: Iterable[Piece], *, force: bool) -> set[int]:
    """Create or check ``out``; return the indices of pieces this same run already finished.

    A folder holding another run is refused unless ``force`` (which removes that run's files,
    and only those); a folder with files edgekit did not write is always refused."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; --out takes a folder for the Parquet parts")
    out.mkdir(parents=True, exist_ok=True)
    foreign = sorted(p.name for p in out.iterdir() if not _OURS.fullmatch(p.name))
    if foreign:
        raise ConfigError(f"{out} holds files edgekit did not write ({', '.join(foreign[:3])}"
                          f"{', …' if len(foreign) > 3 else ''})", hint="choose a new or empty --out folder")
    previous = read_manifest(out)
    has_parts = any(out.glob("part-*.parquet"))
    if previous is not None and previous.get("run") == identity["run"] and not force:
        done = finished_parts(out, pieces, identity["run"])
        remove_stale_parts(out, pieces, done)
    elif (previous is not None or has_parts) and not force:
        model = (previous or {}).get("model") or {}
        what = (f"another run (model {model.get('file')} sha256 {str(model.get('sha256'))[:12]}…, "
                f"input {(previous.get('options') or {}).get('source')})" if model else "parts of an unknown run")
        raise ConfigError(f"{out} already holds {what}", hint="choose another --out, or pass --force to replace it")
    else:
        for path in out.iterdir():
            path.unlink()
        done = set()
    for stale in out.glob(".part-*.tmp"):  # left by a worker killed while writing
        stale.unlink(missing_ok=True)
    write_manifest(out, identity, parts=[], complete=False)
    return done


def finished_parts(out: Path, pieces: Iterable[Piece], run_id: str) -> set[int]:
    """Pieces whose part exists, belongs to ``run_id`` and holds the rows it says it holds."""
    import pyarrow.parquet as pq

    done = set()
    for piece in pieces:
        path = out / piece.part
        if not path.is_file():
            continue
        try:
            metadata = pq.read_metadata(path)
            meta = json.loads((metadata.metadata or {}).get(PART_METADATA_KEY, b"{}"))
        except Exception:  # a damaged or foreign file counts as missing and is rewritten
            continue
        rows_ok = piece.rows is None or piece.rows == metadata.num_rows  # CSV pieces: the atomic write vouches
        if meta.get("run") == run_id and meta.get("key") == piece.key and rows_ok:
            done.add(piece.index)
    return done


def remove_stale_parts(out: Path, pieces: Iterable[Piece], done: set[int]) -> None:
    """Delete parts this run will not keep: a part left over from a plan with more pieces
    would otherwise duplicate rows."""
    keep = {p.part for p in pieces if p.index in done}
    for path in out.glob("part-*.parquet"):
        if path.name not in keep:
            path.unlink()


def part_rows(out: Path, pieces: Iterable[Piece]) -> list[dict]:
    """One entry per finished part for the manifest: name, source file, rows."""
    import pyarrow.parquet as pq

    return [{"part": p.part, "source": p.path, "rows": pq.read_metadata(out / p.part).num_rows,
             **({"first_row": p.first_row} if p.first_row is not None else {})} for p in pieces]


def read_manifest(out: Path) -> dict | None:
    path = out / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == FORMAT else {}


def write_manifest(out: Path, identity: dict, *, parts: list[dict], complete: bool, missing: list[str] = ()) -> None:
    body = {"format": FORMAT, **identity, "complete": complete, "rows": sum(p["rows"] for p in parts),
            "parts": parts, "missing": list(missing)}
    write_text(out / MANIFEST_NAME, json.dumps(body, indent=2) + "\n")
