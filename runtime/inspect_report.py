"""What ``edgekit info`` learns from a model file without running it.

:class:`ModelInspection` is the format-independent part (operators, parameters, weight
precision, inputs and outputs) plus ``details``, the format's own facts (TFLite schema
and op versions, signatures and metadata; ONNX IR version, opsets and producer).
``weight_summary`` turns the constant tensors of a file into the precision table: how
many parameters and bytes each dtype holds, and how the quantised ones are quantised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from edgekit.runtime.tensors import TensorSpec

PER_TENSOR, PER_CHANNEL, UNKNOWN = "per-tensor", "per-channel", "unknown"


@dataclass(frozen=True)
class Weight:
    """One stored constant tensor: dtype, element count, bytes, and, for quantised integer
    weights, whether one scale covers the tensor or one per channel (None: not quantised)."""

    dtype: str
    elements: int
    nbytes: int
    granularity: str | None = None


@dataclass(frozen=True)
class ModelInspection:
    file: str
    format: str
    size_bytes: int
    sha256: str
    operators: Mapping[str, int]
    parameters: int
    weights: Mapping[str, Any]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    details: Mapping[str, Any] = field(default_factory=dict)
    manifest: Any = None  # the embedded edgekit Manifest / TensorManifest, if any

    @property
    def n_operators(self) -> int:
        return sum(self.operators.values())

    def to_dict(self) -> dict[str, Any]:
        manifest = self.manifest.to_dict() if self.manifest is not None else None
        return {"file": self.file, "format": self.format, "size_bytes": self.size_bytes, "sha256": self.sha256,
                "operators": dict(self.operators), "n_operators": self.n_operators, "parameters": self.parameters,
                "weights": dict(self.weights), "inputs": [s.to_dict() for s in self.inputs],
                "outputs": [s.to_dict() for s in self.outputs], "details": dict(self.details), "manifest": manifest}


def weight_summary(weights: Iterable[Weight]) -> dict[str, Any]:
    """Totals, the share of parameter bytes and counts per dtype, and quantisation granularity."""
    weights = list(weights)
    total_elements = sum(w.elements for w in weights)
    total_bytes = sum(w.nbytes for w in weights)
    by_dtype: dict[str, dict[str, Any]] = {}
    for w in weights:
        row = by_dtype.setdefault(w.dtype, {"tensors": 0, "parameters": 0, "bytes": 0,
                                            PER_TENSOR: 0, PER_CHANNEL: 0, UNKNOWN: 0})
        row["tensors"] += 1
        row["parameters"] += w.elements
        row["bytes"] += w.nbytes
        if w.granularity is not None:
            row[w.granularity] += 1
    for row in by_dtype.values():
        row["share_of_bytes"] = row["bytes"] / total_bytes if total_bytes else 0.0
        row["share_of_parameters"] = row["parameters"] / total_elements if total_elements else 0.0
    quantized = [w for w in weights if w.granularity is not None]
    ordered = dict(sorted(by_dtype.items(), key=lambda item: -item[1]["bytes"]))
    return {"tensors": len(weights), "parameters": total_elements, "bytes": total_bytes, "by_dtype": ordered,
            "quantized": {"tensors": len(quantized), "parameters": sum(w.elements for w in quantized),
                          PER_TENSOR: sum(w.granularity == PER_TENSOR for w in quantized),
                          PER_CHANNEL: sum(w.granularity == PER_CHANNEL for w in quantized),
                          UNKNOWN: sum(w.granularity == UNKNOWN for w in quantized)}}
