"""Keras -> TFLite: float32, float16, dynamic-range int8 and full-integer int8.

Every reduced-precision variant converts :func:`keras_network.unfolded`: without it the
converter folds the standardisation into the first dense layer (W / sigma, fed ``x - mu``
in raw units). With feature scales from 1e-3 to 4e3 that fold is fatal: the dynamic-range
kernel quantises its input with one scale per batch row (the small features round to 0)
and the folded weights with one scale per output unit (the large features' weights round
to 0): 99.8% relative error in the first layer, macro F1 0.88 -> 0.33; in full int8 the fold
gives the first layer a requantisation scale of ~5e4, which XNNPACK refuses ("failed to
prepare"). Unfolded, the weights stay W and the quantised input is z, whose features all
have unit spread. float16 casts the dense layers' weights only (see _fp16_dense_weights).

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
from edgekit.convert.keras_network import unfolded
from edgekit.runtime.errors import ConversionError
from edgekit.runtime.native_stderr import filtered_stderr
from edgekit.runtime.preprocessing import TabularPreprocessing
from edgekit.train.keras_model import PREPROCESS_LAYER
from edgekit.train.tf_env import import_keras, import_tensorflow

# Op types of the preprocessing block and of the regression output's y * std + mean; kept
# in float in full-int8 exports (an int8 "+ mean" of 5e6 was off by 1.4e4 on every row).
FLOAT_OPS = ["NOT_EQUAL", "SELECT", "SELECT_V2", "GATHER", "SUB", "DIV", "MUL", "ADD", "EQUAL", "CAST", "CONCATENATION"]


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
        quant = {"scheme": quantization, "io": "float"}
        if quantization != "fp32":  # float32 folds exactly; the other schemes must not fold
            model, quant["dense_weights"] = unfolded(model)
        converter = _converter(tf, model, width)
        if quantization in ("dynamic", "int8"):
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
        elif quantization == "fp16":
            content = _fp16_dense_weights(_run(converter))
            quant["tool"] = "ai-edge-quantizer (float16 weights of the dense layers only)"
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


def _fp16_dense_weights(content: bytes) -> bytes:
    """float16 copies of the dense layers' weights, everything else float32.

    The converter's own float16 mode casts every float constant, the preprocessing's too: a
    mean or fill value beyond 65504 becomes inf and a near-constant column's 1/sigma
    overflows (measured: RMSE 1.07 -> 9.1). ai-edge-quantizer's weight-only float casting
    touches the FULLY_CONNECTED weights alone."""
    from ai_edge_quantizer import qtyping, quantizer, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    manager = recipe_manager.RecipeManager()
    manager.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.FULLY_CONNECTED,
                                   num_bits=16, algorithm_key=AlgorithmName.FLOAT_CASTING)
    try:
        with _quiet(), contextlib.redirect_stderr(io.StringIO()):
            q = quantizer.Quantizer(bytearray(content))
            q.load_quantization_recipe(manager.get_quantization_recipe())
            return bytes(q.quantize(enable_progress_report=False).quantized_model)
    except Exception as exc:  # the quantizer raises ValueError, RuntimeError, KeyError...
        raise ConversionError(f"float16 weight casting failed: {_first_line(exc)}") from exc


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
