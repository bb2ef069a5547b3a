"""The parity gate: does an export still do its job?

Each export is loaded with the edgekit runtime (so its embedded manifest is exercised
too) and run on the bundle's test split; its outputs are compared with the source
model's. float32 exports must match to 1e-4 relative to the target's scale; quantised
exports must keep the task metric within ``max_degradation`` percent.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

FP32_RELATIVE_TOLERANCE = 1e-4
# A near-perfect regression model (error far below the target's spread) is not held to a
# near-zero tolerance: relative degradation is measured against at least 5% of the
# target's standard deviation.
ERROR_FLOOR = 0.05


@dataclass(frozen=True)
class Reference:
    """The source model's outputs on the test split, computed once per conversion."""

    features: dict[str, np.ndarray]  # raw test columns, as given to every export
    y_true: np.ndarray  # regression values or class indices
    outputs: np.ndarray  # regression values [n] or probabilities [n, k]
    metric: Any  # edgekit.train.metrics.Metric
    target_scale: float

    def score(self, outputs: np.ndarray) -> float:
        predicted = outputs if outputs.ndim == 1 else np.argmax(outputs, axis=1)
        return self.metric.fn(self.y_true, predicted)


@dataclass(frozen=True)
class Parity:
    rows: int
    max_abs_error: float
    mean_abs_error: float
    metric: str
    source_metric: float
    export_metric: float
    degradation_pct: float
    rule: str
    passed: bool
    reason: str | None = None
    label_agreement: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_outputs(model, reference: Reference) -> np.ndarray:
    prediction = model.predict(reference.features)
    if prediction.task == "regression":
        return np.asarray(prediction.values, dtype=np.float64)
    return np.asarray(prediction.probabilities, dtype=np.float64)


def check(model, reference: Reference, quantization: str, max_degradation_pct: float) -> Parity:
    outputs = export_outputs(model, reference)
    if outputs.shape != reference.outputs.shape:
        return Parity(len(reference.y_true), math.inf, math.inf, reference.metric.name, math.nan, math.nan, math.inf,
                      "shape", False, f"output shape {outputs.shape} differs from the source's {reference.outputs.shape}")
    error = np.abs(outputs - reference.outputs)
    source_metric = reference.score(reference.outputs)
    export_metric = reference.score(outputs)
    floor = ERROR_FLOOR * reference.target_scale if outputs.ndim == 1 and not reference.metric.greater_is_better else 0.0
    degradation = _degradation_pct(source_metric, export_metric, reference.metric.greater_is_better, floor)
    agreement = None
    if outputs.ndim == 2:
        agreement = float(np.mean(np.argmax(outputs, axis=1) == np.argmax(reference.outputs, axis=1)))
    max_error = float(error.max())
    if quantization == "fp32":
        tolerance = FP32_RELATIVE_TOLERANCE * reference.target_scale
        passed = max_error <= tolerance
        rule = f"max abs error <= {tolerance:.3g} (1e-4 x target scale {reference.target_scale:.3g})"
        reason = None if passed else f"float32 export differs from the source by up to {max_error:.3g} (> {tolerance:.3g})"
    else:
        passed = degradation <= max_degradation_pct
        rule = f"{reference.metric.name} within {max_degradation_pct:g}% of the source" + (
            f" (of at least {floor:.3g}: 5% of the target's standard deviation)" if floor else "")
        reason = None if passed else (
            f"{reference.metric.name} went from {source_metric:.4g} to {export_metric:.4g} "
            f"({degradation:.1f}% worse, limit {max_degradation_pct:g}%)"
        )
    return Parity(len(reference.y_true), max_error, float(error.mean()), reference.metric.name, source_metric,
                  export_metric, degradation, rule, passed, reason, agreement)


def _degradation_pct(source: float, export: float, greater_is_better: bool, floor: float = 0.0) -> float:
    """How much worse the export is, in percent of the source metric (negative: better)."""
    worse = (source - export) if greater_is_better else (export - source)
    return float(100.0 * worse / max(abs(source), floor, 1e-12))
