"""Keras -> ONNX with tf2onnx's ``from_function`` path (``from_keras`` fails on Keras 3).

Input ``x`` [batch, features] and one output named after its role, dynamic batch. The
preprocessing layer holds numpy constants, so the Normalization capture bug of FACTS.md
cannot occur; a check after conversion refuses any extra graph input all the same.
Quantised variants keep the preprocessing and a regression network's output scaling in
float (``keras_network.float_layer_names``); tf2onnx does not fold them into the weights.
"""

from __future__ import annotations

import contextlib
import io

from edgekit.convert.base import Artifact, Job, NotApplicable
from edgekit.convert.keras_network import float_layer_names
from edgekit.convert.onnx_quant import quantize
from edgekit.runtime.errors import ConversionError
from edgekit.train.keras_model import PREPROCESS_LAYER
from edgekit.train.tf_env import import_tensorflow

OPSET = 17


class KerasToOnnx:
    format = "onnx"
    quantizations = ("fp32", "dynamic", "int8")

    def tools(self) -> dict[str, str]:
        import onnx
        import onnxruntime
        import tf2onnx

        return {"tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}

    def convert(self, job: Job, quantization: str) -> Artifact:
        if quantization == "fp16":
            raise NotApplicable("fp16 ONNX is not offered: onnxruntime's CPU provider lacks fp16 kernels; use TFLite fp16")
        model = self.float_model(job)
        if quantization == "fp32":
            return Artifact(model, "matrix", (job.output_role,), {"scheme": "fp32"})
        keep = float_layer_names(job.bundle.model)
        # ORT's dynamic quantisation scales each MatMul input once per batch, so one row with
        # an outlier feature (heavy tails: z of 25) coarsens every other row of its batch
        # (RMSE 7% worse in a batch of 100, 0.2% better row by row); the first dense
        # layer, whose input is the standardised features, stays in float.
        first = _first_dense(model, PREPROCESS_LAYER) if quantization == "dynamic" else []
        quantized = quantize(model, quantization, job, exclude=first, keep_float=tuple(keep), fuse_bias=True,
                             input_names=["x"], layout="matrix")
        quant = {"scheme": quantization, "format": "QDQ" if quantization == "int8" else "dynamic",
                 "per_channel": job.options.per_channel, "float_layers": keep + (["first dense"] if first else [])}
        if quantization == "int8":
            quant.update(calibration_rows=len(job.calibration), calibration_method=job.options.calibration_method,
                         input_range=job.calibration.input_range())
        return Artifact(quantized, "matrix", (job.output_role,), quant)

    def float_model(self, job: Job):
        tf = import_tensorflow()
        import tf2onnx

        model = job.bundle.model
        width = int(model.inputs[0].shape[1])
        signature = [tf.TensorSpec((None, width), tf.float32, name="x")]
        role = job.output_role

        @tf.function(input_signature=signature)
        def serve(x):
            return {role: model(x, training=False)}

        try:
            with contextlib.redirect_stdout(io.StringIO()):
                onnx_model, _ = tf2onnx.convert.from_function(serve, input_signature=signature, opset=OPSET)
        except Exception as exc:  # tf2onnx raises assorted errors
            raise ConversionError(f"tf2onnx failed: {exc}") from exc
        inputs = [i.name for i in onnx_model.graph.input]
        if inputs != ["x"]:
            raise ConversionError(f"the ONNX graph has unexpected inputs {inputs} (captured constants?)")
        return onnx_model


def _first_dense(model, preprocessing: str) -> list[str]:
    """The MatMul/Gemm nodes fed by the preprocessing's output."""
    produced = {out for node in model.graph.node if preprocessing in node.name for out in node.output}
    return [n.name for n in model.graph.node if n.op_type in ("MatMul", "Gemm") and n.input[0] in produced]
