"""The gate for foreign models: does each export still compute what its float source does?

Both run on the same rows (``--eval``, else the calibration arrays, else seeded synthetic
rows; the export one row per call, as a device runs it); the export's outputs are compared
after dequantisation, output by output:

- float32 exports must match tightly: max abs error <= 1e-4 x the output's scale
  (its largest absolute value in the source's outputs);
- quantised exports (fp16, dynamic, int8) must keep top-1 agreement >= 1 - max_degradation
  on class-score outputs (2-D, last dimension >= 2), cosine similarity >= 0.99 (of the
  whole output, flattened) on other float outputs, and exact agreement >= 1 - max_degradation
  on integer or boolean outputs.

``--eval-labels`` adds accuracy (source and export) to class-score outputs; it is reported,
top-1 agreement with the source is what gates.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from edgekit.convert.foreign.options import MIN_COSINE
from edgekit.convert.foreign.tensor_data import TensorData

FP32_RELATIVE_TOLERANCE = 1e-4


def rule_text(max_degradation: float) -> str:
    keep = 1 - max_degradation / 100
    return (f"float32: max abs error <= 1e-4 x max|source output|, per output; quantised: top-1 agreement >= "
            f"{keep:.1%} on class-score outputs (2-D, last dim >= 2), cosine similarity >= {MIN_COSINE:g} on other "
            f"float outputs, exact agreement >= {keep:.1%} on integer outputs")


def collect(run: Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]], data: TensorData,
            batch: int) -> dict[str, np.ndarray]:
    """Outputs of ``run`` over every row of ``data``, concatenated along the batch."""
    parts: dict[str, list[np.ndarray]] = {}
    for chunk in data.chunks(batch):
        for name, value in run(chunk).items():
            parts.setdefault(name, []).append(np.asarray(value))
    return {name: np.concatenate(values) if values[0].ndim else values[-1] for name, values in parts.items()}


def is_class_scores(values: np.ndarray) -> bool:
    return values.ndim == 2 and values.shape[1] >= 2 and values.dtype.kind == "f"


@dataclass(frozen=True)
class OutputCheck:
    name: str
    shape: list[int]
    max_abs_error: float
    mean_abs_error: float
    scale: float
    cosine: float | None = None
    top1_agreement: float | None = None
    exact_agreement: float | None = None
    source_accuracy: float | None = None
    export_accuracy: float | None = None


@dataclass(frozen=True)
class GateResult:
    rows: int
    inputs: str
    batch: int  # rows per call of the export
    rule: str
    passed: bool
    reason: str | None = None
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(reference: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], quantization: str,
          max_degradation: float, *, inputs: str, batch: int, labels: np.ndarray | None = None) -> GateResult:
    rule = rule_text(max_degradation)
    rows = len(next(iter(reference.values()))) if reference else 0
    missing = [n for n in reference if n not in outputs]
    if missing:
        return GateResult(rows, inputs, batch, rule, False, f"the export has no output(s) {missing}; it has {sorted(outputs)}")
    checks, failures = {}, []
    for name, ref in reference.items():
        got = np.asarray(outputs[name])
        if got.shape != ref.shape:
            failures.append(f"{name}: shape {list(got.shape)} differs from the source's {list(ref.shape)}")
            continue
        item = _compare(name, ref, got, labels)
        checks[name] = asdict(item)
        failure = _verdict(item, ref, quantization, max_degradation)
        if failure:
            failures.append(failure)
    return GateResult(rows, inputs, batch, rule, not failures, "; ".join(failures) or None, checks)


def _compare(name: str, ref: np.ndarray, got: np.ndarray, labels: np.ndarray | None) -> OutputCheck:
    r, g = ref.astype(np.float64), got.astype(np.float64)
    error = np.abs(g - r)
    scale = float(np.max(np.abs(r))) if r.size else 0.0
    facts: dict[str, Any] = {}
    if ref.dtype.kind == "f":
        facts["cosine"] = _cosine(r.ravel(), g.ravel())
    else:
        facts["exact_agreement"] = float(np.mean(ref == got)) if ref.size else 1.0
    if is_class_scores(ref):
        facts["top1_agreement"] = float(np.mean(ref.argmax(1) == got.argmax(1)))
        if labels is not None:
            facts["source_accuracy"] = float(np.mean(ref.argmax(1) == labels))
            facts["export_accuracy"] = float(np.mean(got.argmax(1) == labels))
    return OutputCheck(name, list(ref.shape), float(error.max()) if error.size else 0.0,
                       float(error.mean()) if error.size else 0.0, scale, **facts)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0 or not math.isfinite(na * nb):
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def _verdict(item: OutputCheck, ref: np.ndarray, quantization: str, max_degradation: float) -> str | None:
    if not math.isfinite(item.max_abs_error):
        return f"{item.name}: the export produces NaN or infinity"
    keep = 1 - max_degradation / 100
    if quantization == "fp32":
        tolerance = FP32_RELATIVE_TOLERANCE * max(item.scale, 1e-12)
        if item.max_abs_error > tolerance:
            return f"{item.name}: float32 export differs from the source by up to {item.max_abs_error:.3g} (> {tolerance:.3g})"
        return None
    if item.top1_agreement is not None:
        if item.top1_agreement < keep:
            return f"{item.name}: top-1 agreement {item.top1_agreement:.1%} < {keep:.1%}"
        return None
    if item.exact_agreement is not None:
        if item.exact_agreement < keep:
            return f"{item.name}: exact agreement {item.exact_agreement:.1%} < {keep:.1%}"
        return None
    if item.cosine < MIN_COSINE:
        return f"{item.name}: cosine similarity {item.cosine:.4f} < {MIN_COSINE:g}"
    return None
