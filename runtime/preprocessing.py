"""Tabular preprocessing as data: impute, standardise, one-hot.

One spec drives two implementations that must agree: the Keras layer that puts the
preprocessing inside a neural network's graph (``edgekit.train``), and :meth:`apply`, the
numpy version the runtime uses for int8-I/O exports whose graph starts after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from edgekit.runtime.errors import ModelLoadError


@dataclass(frozen=True)
class TabularPreprocessing:
    """Maps a float32 ``[n, n_inputs]`` matrix to the network's ``[n, n_outputs]`` input.

    ``fill`` replaces NaN per input column; numeric columns are standardised with
    ``mean``/``scale``; each categorical column is one-hot encoded against its encoded
    category values (unknown values give all zeros). Output order: numerics, then each
    categorical's indicators.
    """

    fill: tuple[float, ...]
    numeric: tuple[int, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    categorical: tuple[tuple[int, tuple[float, ...]], ...] = ()

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.numeric) or len(self.scale) != len(self.numeric):
            raise ModelLoadError("preprocessing: mean/scale must match the numeric columns")
        if any(s == 0 for s in self.scale):
            raise ModelLoadError("preprocessing: a zero scale would divide by zero")
        used = list(self.numeric) + [i for i, _ in self.categorical]
        if sorted(used) != list(range(self.n_inputs)):
            raise ModelLoadError("preprocessing: every input column must be numeric or categorical once")

    @property
    def n_inputs(self) -> int:
        return len(self.fill)

    @property
    def n_outputs(self) -> int:
        return len(self.numeric) + sum(len(values) for _, values in self.categorical)

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        x = np.where(np.isnan(x), np.asarray(self.fill, np.float32), x)
        parts = [(x[:, list(self.numeric)] - np.asarray(self.mean, np.float32)) / np.asarray(self.scale, np.float32)]
        for column, values in self.categorical:
            parts.append((x[:, [column]] == np.asarray(values, np.float32)).astype(np.float32))
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fill": [float(v) for v in self.fill],
            "numeric": [int(i) for i in self.numeric],
            "mean": [float(v) for v in self.mean],
            "scale": [float(v) for v in self.scale],
            "categorical": [[int(i), [float(v) for v in values]] for i, values in self.categorical],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TabularPreprocessing":
        try:
            return cls(
                fill=tuple(float(v) for v in data["fill"]),
                numeric=tuple(int(i) for i in data["numeric"]),
                mean=tuple(float(v) for v in data["mean"]),
                scale=tuple(float(v) for v in data["scale"]),
                categorical=tuple((int(i), tuple(float(v) for v in values)) for i, values in data.get("categorical", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"malformed preprocessing spec: {exc!r}") from exc
