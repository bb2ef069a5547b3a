"""Which tool makes which export of which source: one function, typed results.

``build`` returns the export before its manifest is embedded, raises ``NotApplicable``
(with the reason for the report) when the variant cannot exist for this source, and
``NeedsCalibration`` when static int8 was wanted without calibration data: edgekit never
calibrates on made-up inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgekit.convert.base import NotApplicable
from edgekit.convert.foreign import onnx_export, tflite_export
from edgekit.convert.foreign.tensor_data import TensorData


class NeedsCalibration(NotApplicable):
    """Static int8 without ``--calibration``."""


@dataclass
class Built:
    content: Any  # bytes (TFLite) or onnx.ModelProto
    quant: dict[str, Any]
    tools: dict[str, str] = field(default_factory=dict)


def build(source, fmt: str, quantization: str, calibration: TensorData | None, options) -> Built:
    offered = source.offers.get(fmt, ())
    if quantization not in offered:
        raise NotApplicable(_why_not(source, fmt, quantization, offered))
    if quantization == "int8" and calibration is None:
        raise NeedsCalibration(_how_to_calibrate(source))
    tools = source.tools()
    if source.kind in ("keras", "saved_model"):
        if fmt == "tflite":
            content, quant = tflite_export.from_tensorflow(source, quantization, calibration, options)
            return Built(content, quant, tools)
        model = _float_onnx(source)
        tools.update({**onnx_export.tf2onnx_tools(), **onnx_export.tools()})
        if quantization == "fp32":
            return Built(model, {"scheme": "fp32", "tool": "tf2onnx"}, tools)
        model, quant = onnx_export.quantized(model, quantization, calibration, options, source.name)
        return Built(model, quant, tools)
    if fmt == "tflite":
        content, quant = tflite_export.from_tflite(source, quantization, calibration, options)
        return Built(content, quant, {**tools, **tflite_export.tools()})
    model, quant = onnx_export.quantized(source.onnx_model(), quantization, calibration, options, source.name)
    return Built(model, quant, {**tools, **onnx_export.tools()})


def _float_onnx(source):
    """tf2onnx runs once per source; each variant gets its own copy (embedding edits it)."""
    import onnx

    if "float_onnx" not in source.cache:
        source.cache["float_onnx"] = onnx_export.from_tensorflow(source)
    model = onnx.ModelProto()
    model.CopyFrom(source.cache["float_onnx"])
    return model


def _why_not(source, fmt: str, quantization: str, offered: tuple[str, ...]) -> str:
    if quantization == "fp16" and fmt == "onnx":
        return "fp16 ONNX is not offered: onnxruntime's CPU provider lacks fp16 kernels; use TFLite fp16"
    if quantization == "fp32" and source.kind in ("onnx", "tflite"):
        return f"the source {source.name} is the float32 model"
    return f"{fmt} {quantization} is not made from a {source.kind} source (it offers {', '.join(offered)})"


def _how_to_calibrate(source) -> str:
    arrays = ", ".join(f"{s.name}=<{s.dtype} array {_rows_shape(s.shape)}>" for s in source.inputs)
    return ("static int8 needs calibration data and is never calibrated on random inputs: pass --calibration FILE.npz "
            f"made with np.savez(FILE, {arrays}) from a few hundred real samples")


def _rows_shape(shape) -> str:
    dims = ["N"] + ["?" if not isinstance(d, int) else str(d) for d in shape[1:]]
    return "[" + ", ".join(dims) + "]"
