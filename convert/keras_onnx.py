"""Keras -> ONNX with tf2onnx's ``from_function`` path (``from_keras`` fails on Keras 3).

Input ``x`` [batch, features] and one output named after its role, dynamic batch. The
preprocessing layer holds numpy constants, so the Normalization capture bug of FACTS.md
cannot occur; a check after conversion refuses any extra graph input all the same.
"""

from __future__ import annotations

import contextlib
import io

from edgekit.convert.base import Artifact, Job, NotApplicable
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
        exclude = [n.name for n in model.graph.node if PREPROCESS_LAYER in n.name]
        if not exclude:
            raise ConversionError("could not find the preprocessing nodes to keep in float")
        quantized = quantize(model, quantization, job, exclude=exclude, input_names=["x"], layout="matrix")
        quant = {"scheme": quantization, "format": "QDQ" if quantization == "int8" else "dynamic",
                 "per_channel": job.options.per_channel, "float_nodes": len(exclude)}
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
