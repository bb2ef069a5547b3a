"""One calibration source for both quantisers.

The same training rows, encoded exactly as the runtime encodes them, feed TFLite's
``representative_dataset`` and onnxruntime's ``CalibrationDataReader`` (whose whole
contract is ``get_next() -> feed dict | None``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from edgekit.runtime.inputs import to_column_feeds, to_columns, to_matrix
from edgekit.runtime.schema import Schema


@dataclass(frozen=True)
class CalibrationSet:
    """Calibration rows as the runtime's float32 matrix and as per-column feeds."""

    schema: Schema
    matrix: np.ndarray
    column_feeds: list[np.ndarray]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, schema: Schema, *, rows: int | None, cap: int, seed: int) -> "CalibrationSet":
        """Up to ``rows`` (default: all, up to ``cap``) training rows in a seeded random order."""
        limit = min(rows if rows is not None else cap, len(frame))
        order = np.random.default_rng(seed).permutation(len(frame))[:limit]
        sample = frame.iloc[order]
        columns = to_columns({f.name: sample[f.name].to_numpy() for f in schema}, schema)
        return cls(schema, to_matrix(columns, schema), to_column_feeds(columns, schema))

    def __len__(self) -> int:
        return len(self.matrix)

    def input_range(self) -> dict[str, list[float]]:
        """Observed [min, max] per numeric feature: values far outside saturate an int8 model."""
        ranges = {}
        for j, f in enumerate(self.schema):
            col = self.matrix[:, j]
            col = col[~np.isnan(col)]
            if not f.is_string and len(col):
                ranges[f.name] = [float(col.min()), float(col.max())]
        return ranges

    def representative_dataset(self, transform: Callable[[np.ndarray], np.ndarray] | None = None):
        """A TFLite representative-dataset callable yielding one row at a time."""
        data = transform(self.matrix) if transform else self.matrix

        def generate() -> Iterator[list[np.ndarray]]:
            for i in range(len(data)):
                yield [data[i : i + 1].astype(np.float32)]

        return generate

    def filled_matrix(self) -> np.ndarray:
        """The matrix with missing values replaced by each column's median: ORT's histogram
        calibrators (entropy, percentile) cannot bin NaN, and the in-graph imputation that
        would replace them runs in float anyway."""
        matrix = self.matrix.copy()
        with np.errstate(all="ignore"):
            medians = np.nanmedian(np.where(np.isnan(matrix).all(axis=0), 0.0, matrix), axis=0)
        rows, cols = np.nonzero(np.isnan(matrix))
        matrix[rows, cols] = medians[cols]
        return matrix

    def data_reader(self, input_names: list[str], layout: str):
        """An onnxruntime CalibrationDataReader over the same rows."""
        from onnxruntime.quantization import CalibrationDataReader

        if layout == "matrix":
            matrix = self.filled_matrix()
            feeds = [{input_names[0]: matrix[i : i + 1]} for i in range(len(self))]
        else:
            feeds = [{name: col[i : i + 1] for name, col in zip(input_names, self.column_feeds)} for i in range(len(self))]

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._rows = iter(feeds)

            def get_next(self):
                return next(self._rows, None)

            def rewind(self) -> None:
                self._rows = iter(feeds)

        return Reader()
