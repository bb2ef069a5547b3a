"""A loaded export: validated ``predict`` for people, thin ``predict_array`` for hot loops."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.runtime import hot_path
from edgekit.runtime.backends import Backend
from edgekit.runtime.errors import InferenceError
from edgekit.runtime.inputs import to_column_feeds, to_columns, to_matrix
from edgekit.runtime.manifest import Manifest
from edgekit.runtime.schema import Schema


class SaturationWarning(RuntimeWarning):
    """Inputs outside an int8 model's calibration range: its outputs saturate."""


@dataclass(frozen=True)
class Prediction:
    """Predictions for a batch: ``values`` are numbers (regression) or labels (classification)."""

    task: str
    values: np.ndarray
    probabilities: np.ndarray | None = None
    labels: tuple[Any, ...] | None = None
    request_ids: tuple[str, ...] | None = None  # set when the prediction was logged

    def __len__(self) -> int:
        return len(self.values)

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-friendly dict per row."""
        if self.task == "regression":
            return [{"prediction": float(v)} for v in self.values]
        records = []
        for i, label in enumerate(self.values.tolist()):
            record: dict[str, Any] = {"label": label}
            if self.probabilities is not None and self.labels is not None:
                record["probabilities"] = {str(k): float(p) for k, p in zip(self.labels, self.probabilities[i])}
            records.append(record)
        return records


class Model:
    """A tabular export: rows with a feature schema in, decoded predictions out.

    The adapter over the tensor layer: ``tensor`` is the file's :class:`TensorModel`, and
    ``inputs``, ``outputs`` and ``run`` reach it directly. Not thread-safe (one
    interpreter state)."""

    def __init__(self, path: Path, manifest: Manifest, backend: Backend, *, logger: Any = None, tensor: Any = None):
        self.path = path
        self.manifest = manifest
        self.backend = backend
        self.logger = logger
        self.tensor = tensor
        self._prep = manifest.preprocessing.apply if manifest.preprocessing else None
        # The hot path is a closure specialised to this model, stored on the instance so a
        # call skips method lookup (see edgekit.runtime.hot_path).
        self.predict_array = hot_path.build(self)
        self._ranges = _calibration_ranges(manifest)

    # -- descriptive -------------------------------------------------------------------
    @property
    def schema(self) -> Schema:
        return self.manifest.schema

    @property
    def labels(self) -> tuple[Any, ...] | None:
        return self.manifest.labels

    @property
    def task(self) -> str:
        return self.manifest.task

    @property
    def format(self) -> str:
        return self.manifest.format

    @property
    def inputs(self):
        return self.tensor.inputs

    @property
    def outputs(self):
        return self.tensor.outputs

    def run(self, feeds, *, dequantize: bool = False) -> dict[str, np.ndarray]:
        """Raw tensors in and out, bypassing the schema (see ``TensorModel.run``)."""
        return self.tensor.run(feeds, dequantize=dequantize)

    def __repr__(self) -> str:
        m = self.manifest
        return f"Model({self.path.name!r}, {m.format}/{m.quantization}, {m.task}, backend={self.backend.name})"

    # -- prediction ----------------------------------------------------------------------
    def predict(self, rows: Any, *, request_ids: list[str] | None = None) -> Prediction:
        """Validate rows (dict of columns, list of row dicts, 2-D array), predict, decode.

        With a prediction log attached, each row is logged under ``request_ids`` (generated
        when not given) and the ids are returned on the prediction."""
        columns = to_columns(rows, self.schema)
        if self.manifest.input_layout == "matrix":
            x = to_matrix(columns, self.schema)
            self._warn_if_saturating(x)
            outputs = self._run_matrix(x)
        else:
            outputs = self.backend.run(to_column_feeds(columns, self.schema))
        prediction = self._decode(outputs)
        if self.logger is not None:
            ids = self.logger.log(columns, prediction, request_ids)
            prediction = replace(prediction, request_ids=tuple(ids))
        return prediction

    def predict_array(self, x: np.ndarray) -> np.ndarray:  # replaced per instance in __init__
        """Hot path: float32 ``[n, n_features]`` in schema order -> regression values ``[n]``
        or class probabilities ``[n, k]``. Only dtype and shape are checked."""
        return hot_path.build(self)(x)

    # -- internals -----------------------------------------------------------------------
    def _run_matrix(self, x: np.ndarray) -> list[np.ndarray]:
        return self.backend.run([self._prep(x) if self._prep else x])

    def _decode(self, outputs: list[np.ndarray]) -> Prediction:
        roles = dict(zip(self.manifest.outputs, outputs))
        if self.task == "regression":
            return Prediction("regression", np.asarray(roles["prediction"], dtype=np.float64).reshape(-1))
        labels = self.labels or ()
        probabilities = roles.get("probabilities")
        if probabilities is not None:
            probabilities = np.asarray(probabilities, dtype=np.float64)
        if probabilities is not None and (probabilities.ndim != 2 or probabilities.shape[1] != len(labels)):
            raise InferenceError(f"the model returned probabilities of shape {probabilities.shape} "
                                 f"for {len(labels)} labels in its manifest")
        if "label" in roles:
            index = np.asarray(roles["label"]).reshape(-1).astype(np.int64)
        else:
            index = np.argmax(probabilities, axis=1)
        if len(index) and (index.min() < 0 or index.max() >= len(labels)):
            bad = int(index.max() if index.max() >= len(labels) else index.min())
            raise InferenceError(f"the model returned class index {bad}, but its manifest has {len(labels)} labels")
        values = np.asarray([labels[i] for i in index], dtype=object)
        return Prediction("classification", values, probabilities, tuple(labels))

    def _warn_if_saturating(self, x: np.ndarray) -> None:
        if self._ranges is None:
            return
        low, high, names = self._ranges
        with np.errstate(invalid="ignore"):
            outside = ((x < low) | (x > high)).any(axis=0)
        if outside.any():
            bad = [names[i] for i in np.flatnonzero(outside)]
            warnings.warn(
                f"feature(s) {bad} lie far outside the int8 calibration range; outputs may saturate",
                SaturationWarning,
                stacklevel=3,
            )

    def close(self) -> None:
        if self.logger is not None:
            self.logger.close()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _calibration_ranges(manifest: Manifest):
    """(low, high, names) for int8 models, widened by the range's width: 'far' outside."""
    ranges = manifest.quant.get("input_range") if manifest.quantization == "int8" else None
    if not ranges or manifest.input_layout != "matrix":
        return None
    names = manifest.schema.names
    low = np.full(len(names), -np.inf, dtype=np.float32)
    high = np.full(len(names), np.inf, dtype=np.float32)
    for i, name in enumerate(names):
        if name in ranges and not manifest.schema[name].is_string:
            lo, hi = ranges[name]
            span = max(hi - lo, 1e-6)
            low[i], high[i] = lo - span, hi + span
    return low, high, names
