"""Keras -> TFLite: float32, float16, dynamic-range int8 and full-integer int8.

Full int8 keeps the in-graph preprocessing in float: a per-tensor int8 input scale shared
by raw features of very different ranges wipes out the small ones (see FACTS.md), so the
preprocessing ops are denylisted through TFLite's selective quantisation and the network
after them is int8. With ``int8_io="int8"`` the export is the network alone with int8
input/output (for integer-only devices) and the runtime applies the preprocessing in
float from the manifest.
"""

from __future__ import annotations

import contextlib
import io
import warnings

from edgekit.convert.base import Artifact, Job, NotApplicable
from edgekit.runtime.errors import ConversionError
from edgekit.runtime.native_stderr import filtered_stderr
from edgekit.runtime.preprocessing import TabularPreprocessing
from edgekit.train.keras_model import PREPROCESS_LAYER
from edgekit.train.tf_env import import_keras, import_tensorflow

# Op types of the preprocessing block; kept in float in full-int8 exports.
FLOAT_OPS = ["NOT_EQUAL", "SELECT", "SELECT_V2", "GATHER", "SUB", "DIV", "MUL", "EQUAL", "CAST", "CONCATENATION"]


class KerasToTFLite:
    format = "tflite"
    quantizations = ("fp32", "fp16", "dynamic", "int8")

    def tools(self) -> dict[str, str]:
        tf = import_tensorflow()
        return {"tensorflow": tf.__version__}

    def convert(self, job: Job, quantization: str) -> Artifact:
        if quantization not in self.quantizations:
            raise NotApplicable(f"{quantization} is not a TFLite quantisation")
        if quantization == "int8" and job.options.int8_io == "int8":
            return self._int8_core(job)
        tf = import_tensorflow()
        model = job.bundle.model
        width = int(model.inputs[0].shape[1])
        converter = _converter(tf, model, width)
        quant = {"scheme": quantization, "io": "float"}
        if quantization == "fp16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantization in ("dynamic", "int8"):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            _legacy(converter, job)
        if quantization == "int8":
            dataset = job.calibration.representative_dataset()
            converter.representative_dataset = dataset
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.float32
            converter.inference_output_type = tf.float32
            content = _selective(tf, converter, dataset)
            quant.update(_calibration_facts(job), float_ops=FLOAT_OPS)
        else:
            content = _run(converter)
        return Artifact(content, "matrix", (job.output_role,), quant)

    def _int8_core(self, job: Job) -> Artifact:
        tf, keras = import_tensorflow(), import_keras()
        model = job.bundle.model
        layer = model.get_layer(PREPROCESS_LAYER)
        prep = TabularPreprocessing.from_dict(layer.get_config()["spec"])
        core = keras.Model(layer.output, model.outputs[0], name="edgekit_core")
        converter = _converter(tf, core, prep.n_outputs)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = job.calibration.representative_dataset(prep.apply)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        _legacy(converter, job)
        quant = {"scheme": "int8", "io": "int8", **_calibration_facts(job)}
        return Artifact(_run(converter), "matrix", (job.output_role,), quant, preprocessing=prep)


def _converter(tf, model, width: int):
    # from_keras_model exports a SavedModel first, which freezes Keras 3 variables;
    # from_concrete_functions leaves them as READ_VARIABLE ops that fail at run time.
    if int(model.inputs[0].shape[1]) != width:
        raise ConversionError(f"model input width {model.inputs[0].shape[1]} is not {width}")
    return tf.lite.TFLiteConverter.from_keras_model(model)


def _legacy(converter, job: Job) -> None:
    if job.options.legacy_tflite:
        # tflite-runtime 2.14 has no per-channel FULLY_CONNECTED kernel (op version 12).
        # The selective-quantisation debugger only reads the general flag, hence both.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
        converter._experimental_disable_per_channel = True


def _calibration_facts(job: Job) -> dict:
    return {
        "calibration_rows": len(job.calibration),
        "calibration_method": "minmax",
        "input_range": job.calibration.input_range(),
        "tflite_runtime_2_14_compatible": job.options.legacy_tflite,
    }


def _selective(tf, converter, dataset) -> bytes:
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=FLOAT_OPS)
    try:
        with _quiet():
            debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset, debug_options=options)
            return debugger.get_nondebug_quantized_model()
    except Exception as exc:  # the converter raises ConverterError, ValueError, RuntimeError...
        raise ConversionError(f"TFLite int8 conversion failed: {_first_line(exc)}") from exc


def _run(converter) -> bytes:
    try:
        with _quiet():
            return converter.convert()
    except Exception as exc:
        raise ConversionError(f"TFLite conversion failed: {_first_line(exc)}") from exc


@contextlib.contextmanager
def _quiet():
    # The converter prints "Saved artifact" lines on stdout, quantiser settings from C++
    # on fd 2, and deprecation warnings about its own tf.lite.Interpreter.
    with contextlib.redirect_stdout(io.StringIO()), filtered_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
