"""TFLite exports of foreign models.

From TensorFlow sources: ``TFLiteConverter`` on the serving signature, float32, float16,
dynamic-range int8 and full-integer int8 calibrated on the user's arrays (float inputs and
outputs by default; ``--int8-io int8|uint8`` for integer ones). From a float ``.tflite``:
ai-edge-quantizer (no TensorFlow needed), dynamic-range and static int8 recipes.
"""

from __future__ import annotations

import contextlib
import io
import warnings

from edgekit.convert.foreign.source import first_line
from edgekit.convert.foreign.tensor_data import TensorData
from edgekit.runtime.errors import ConversionError
from edgekit.runtime.native_stderr import filtered_stderr


def from_tensorflow(source, quantization: str, calibration: TensorData | None, options) -> tuple[bytes, dict]:
    """(flatbuffer bytes, quantisation facts) for a ``TFSource``."""
    from edgekit.convert.keras_tflite import _run  # quiet conversion, errors as ConversionError
    from edgekit.train.tf_env import import_tensorflow

    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([source.signature], source.loaded)
    quant = {"scheme": quantization, "io": "float", "tool": "tensorflow"}
    if quantization == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization in ("dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if options.legacy_tflite:
            # tflite-runtime 2.14 has no per-channel FULLY_CONNECTED kernel (op version 12).
            converter._experimental_disable_per_channel_quantization_for_dense_layers = True
            quant["tflite_runtime_2_14_compatible"] = True
    if quantization == "int8":
        # Dicts keyed by signature input name: the order of several inputs is then unambiguous.
        converter.representative_dataset = calibration.samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_type = {"float": tf.float32, "int8": tf.int8, "uint8": tf.uint8}[options.int8_io]
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
        quant.update(io=options.int8_io, calibration_rows=len(calibration), calibration=calibration.origin,
                     calibration_method="minmax")
    return _run(converter), quant


def from_tflite(source, quantization: str, calibration: TensorData | None, options) -> tuple[bytes, dict]:
    """ai-edge-quantizer on a float ``.tflite`` (a ``ModelFileSource``)."""
    from ai_edge_quantizer import quantizer, recipe

    quant = {"scheme": quantization, "io": "float", "tool": "ai-edge-quantizer"}
    if quantization == "int8":
        if options.int8_io == "uint8":
            raise ConversionError("ai-edge-quantizer makes int8 inputs and outputs; --int8-io uint8 needs a "
                                  "Keras or SavedModel source")
        if source.signature is None:
            raise ConversionError(f"{source.name} has no signature; ai-edge-quantizer calibrates per signature")
        chosen = recipe.static_wi8_ai8()
        # The static recipe quantises the model's inputs and outputs too; the runtime
        # quantises float feeds and dequantises outputs with the recorded parameters.
        quant.update(io="int8", recipe="static_wi8_ai8", calibration_rows=len(calibration),
                     calibration=calibration.origin)
    else:
        chosen = recipe.dynamic_wi8_afp32()
        quant.update(recipe="dynamic_wi8_afp32")
    try:
        with _quiet():
            q = quantizer.Quantizer(bytearray(source.content))
            q.load_quantization_recipe(chosen)
            result = q.calibrate({source.signature: list(calibration.samples())}) if q.need_calibration else None
            content = bytes(q.quantize(result, enable_progress_report=False).quantized_model)
    except Exception as exc:  # the quantizer raises ValueError, RuntimeError, KeyError...
        raise ConversionError(f"ai-edge-quantizer {quantization} failed: {first_line(exc)}") from exc
    return content, quant


def tools() -> dict[str, str]:
    from importlib.metadata import version

    return {"ai-edge-quantizer": version("ai-edge-quantizer")}


@contextlib.contextmanager
def _quiet():
    # The quantizer draws a progress bar on stderr and warns about its debugging interpreter.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), filtered_stderr(), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
