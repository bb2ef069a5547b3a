"""ONNX exports of foreign models.

TensorFlow sources go through tf2onnx's ``from_function`` (``from_keras`` fails on Keras 3,
FACTS.md) on a ``tf.function`` that calls the serving signature, so the ONNX inputs and
outputs carry the signature's names with a dynamic batch. Quantised variants come from
onnxruntime's dynamic int8 and static QDQ int8, through ``edgekit.convert.onnx_quant``.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any

from edgekit.convert.foreign.source import first_line
from edgekit.convert.foreign.tensor_data import TensorData
from edgekit.convert.onnx_quant import quantize, require_quantizable
from edgekit.runtime.errors import ConversionError

OPSET = 17


@dataclass(frozen=True)
class _QuantJob:
    """What ``onnx_quant.quantize`` reads of a job: calibration rows and options."""

    calibration: TensorData | None
    options: Any  # ForeignOptions: per_channel, calibration_method


def from_tensorflow(source):
    """An ``onnx.ModelProto`` of a ``TFSource``'s serving signature."""
    import tf2onnx

    from edgekit.train.tf_env import import_tensorflow

    tf = import_tensorflow()
    names = [s.name for s in source.inputs]
    specs = [tf.TensorSpec(source.tf_specs[n].shape, source.tf_specs[n].dtype, name=n) for n in names]
    signature = source.signature

    @tf.function(input_signature=specs)
    def serve(*args):
        return signature(**dict(zip(names, args)))

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            model, _ = tf2onnx.convert.from_function(serve, input_signature=specs, opset=OPSET)
    except Exception as exc:  # tf2onnx raises assorted errors
        raise ConversionError(f"tf2onnx failed: {first_line(exc)}") from exc
    inputs = [i.name for i in model.graph.input]
    if inputs != names:
        raise ConversionError(f"the ONNX graph has inputs {inputs}, not the signature's {names} (captured constants?)")
    return model


def quantized(model, quantization: str, calibration: TensorData | None, options, family: str):
    """A dynamic or static (QDQ, calibrated) int8 copy of a float ``onnx.ModelProto``."""
    require_quantizable(model, family)
    names = [i.name for i in model.graph.input]
    result = quantize(model, quantization, _QuantJob(calibration, options), exclude=[], input_names=names, layout="tensors")
    quant = {"scheme": quantization, "tool": "onnxruntime", "format": "QDQ" if quantization == "int8" else "dynamic",
             "per_channel": options.per_channel, "io": "float"}
    if quantization == "int8":
        quant.update(calibration_rows=len(calibration), calibration=calibration.origin,
                     calibration_method=options.calibration_method)
    return result, quant


def tools() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def tf2onnx_tools() -> dict[str, str]:
    import tf2onnx

    return {"tf2onnx": tf2onnx.__version__}
