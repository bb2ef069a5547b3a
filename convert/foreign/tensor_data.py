"""Calibration and evaluation tensors from .npz files, checked against a model's inputs.

One array per model input, named exactly like it, whose first dimension counts rows
(the batch). The same rows feed TFLite's ``representative_dataset``, ai-edge-quantizer's
``calibrate`` and onnxruntime's ``CalibrationDataReader`` (``get_next() -> feeds | None``),
and the gate runs them through both the source and every export.
"""

from __future__ import annotations

import difflib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from edgekit.runtime.errors import ConfigError, DataError, SchemaError
from edgekit.runtime.tensors import TensorSpec, convert_feed

GATE_BATCH = 256  # rows per backend call when the batch dimension is dynamic


@dataclass(frozen=True)
class TensorData:
    """Arrays by input name, each [rows, ...] in the input's dtype."""

    arrays: dict[str, np.ndarray]
    origin: str  # what the rows are, for reports: "--eval digits.npz", "synthetic"...

    @property
    def rows(self) -> int:
        return len(next(iter(self.arrays.values())))

    def __len__(self) -> int:
        return self.rows

    def subset(self, limit: int, seed: int) -> "TensorData":
        """Up to ``limit`` rows in a seeded random order (all of them, in order, if fewer)."""
        if self.rows <= limit:
            return self
        order = np.sort(np.random.default_rng(seed).permutation(self.rows)[:limit])
        return TensorData({k: v[order] for k, v in self.arrays.items()}, f"{self.origin} ({limit} of {self.rows} rows)")

    def chunks(self, size: int) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, self.rows, size):
            yield {k: v[start : start + size] for k, v in self.arrays.items()}

    def samples(self) -> Iterator[dict[str, np.ndarray]]:
        """One row at a time, keeping the batch dimension (what calibrators expect)."""
        return self.chunks(1)

    def data_reader(self, input_names: Sequence[str] | None = None, layout: str | None = None):
        """An onnxruntime CalibrationDataReader over the rows (the signature of
        ``CalibrationSet.data_reader``, so ``edgekit.convert.onnx_quant`` can use it)."""
        from onnxruntime.quantization import CalibrationDataReader

        data = self

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._rows = data.samples()

            def get_next(self):
                return next(self._rows, None)

            def rewind(self) -> None:
                self._rows = data.samples()

        return Reader()


def batch_size(specs: Sequence[TensorSpec], dynamic: int = GATE_BATCH) -> int:
    """Rows per call: the inputs' fixed batch dimension, or ``dynamic`` when it is dynamic."""
    fixed = {s.shape[0] for s in specs if s.rank and isinstance(s.shape[0], int) and s.shape[0] > 0}
    if len(fixed) > 1:
        raise ConfigError(f"the model's inputs have different fixed batch sizes {sorted(fixed)}; cannot feed rows")
    return fixed.pop() if fixed else dynamic


def load_npz(path: Path, specs: Sequence[TensorSpec], *, option: str, model: str) -> TensorData:
    """The arrays of ``path``, refused with a message naming every mismatch (exit 2)."""
    path = Path(path)
    where = f"{option} {path.name}"
    if not path.is_file():
        raise DataError(f"{option}: no such file {path}")
    try:
        archive = np.load(path, allow_pickle=False)
        if isinstance(archive, np.lib.npyio.NpzFile):
            with archive:
                arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{where}: cannot read it as .npz ({exc})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{where}: expected an .npz archive with one array per model input",
                        hint="np.savez(path, **{input_name: array})")
    expected = _describe(specs)
    names = [s.name for s in specs]
    unknown = [n for n in arrays if n not in names]
    missing = [n for n in names if n not in arrays]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"array(s) {unknown} are not inputs of {model}{_did_you_mean(unknown, missing or names)}")
        if missing:
            parts.append(f"no array for input(s) {missing}")
        raise SchemaError(f"{where}: " + "; ".join(parts), hint=f"{model} takes {expected}")
    checked = {}
    for spec in specs:
        checked[spec.name] = _check_array(spec, arrays[spec.name], where, expected)
    counts = {name: len(a) for name, a in checked.items()}
    if len(set(counts.values())) > 1:
        raise SchemaError(f"{where}: arrays have different row counts {counts}", hint="one row per sample in every array")
    rows = next(iter(counts.values()))
    if rows == 0:
        raise DataError(f"{where}: the arrays have no rows")
    step = batch_size(specs)
    if step != GATE_BATCH and rows % step:
        raise SchemaError(f"{where}: {rows} rows do not fill batches of {step} (the model's fixed batch size)")
    return TensorData(checked, where)


def load_labels(path: Path, rows: int) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"--eval-labels: no such file {path}")
    try:
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"--eval-labels {path.name}: cannot read it as .npy ({exc})") from exc
    if not isinstance(labels, np.ndarray) or labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"--eval-labels {path.name}: expected a 1-D array of integer class indices",
                        hint=f"got {getattr(labels, 'dtype', type(labels))} {getattr(labels, 'shape', '')}")
    if len(labels) != rows:
        raise DataError(f"--eval-labels {path.name}: {len(labels)} labels for {rows} eval rows")
    return labels.astype(np.int64)


def _check_array(spec: TensorSpec, array: np.ndarray, where: str, expected: str) -> np.ndarray:
    if spec.rank == 0:
        raise ConfigError(f"input {spec.name!r} is a scalar: {where} cannot give it one value per row")
    # The first dimension counts rows, whatever the model's batch size; the others must fit.
    per_row = TensorSpec(spec.name, (None,) + tuple(spec.shape[1:]), spec.dtype, spec.quantization)
    try:
        return convert_feed(per_row, array)
    except SchemaError as exc:
        raise SchemaError(f"{where}: {exc.message}", hint=f"the model takes {expected}") from exc


def _describe(specs: Sequence[TensorSpec]) -> str:
    return ", ".join(f"{s.name} {s.shape_text()} {s.dtype}" for s in specs)


def _did_you_mean(unknown: list[str], candidates: list[str]) -> str:
    close = difflib.get_close_matches(unknown[0], candidates, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""
