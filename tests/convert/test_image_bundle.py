"""Converting an image bundle: the full-int8 TFLite takes uint8 pixels and agrees with the Keras
model (both run here without edgekit: bare ai-edge-litert, bare onnxruntime, Keras with
safe_mode), and every export's manifest reads back the image facts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/image_models.py: the cached digits bundle
from image_models import bare_litert, digits  # noqa: E402,F401  (a session fixture and helpers)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def keras_test(digits):
    """(test images uint8, labels, the Keras model's probabilities) from the bundle."""
    from edgekit.train.image_bundle import load_image_bundle

    bundle = load_image_bundle(digits.bundle)
    test = bundle.split("test")
    model = bundle.load_model()
    return test.x, test.y, np.asarray(model(test.x.astype(np.float32), training=False))


def test_every_variant_is_made_and_passes_its_gate(digits):
    report = json.loads((digits.exports / "conversion.json").read_text())
    status = {r["name"]: r["status"] for r in report["results"]}
    assert status == {name: "passed" for name in ("tflite-fp32", "tflite-fp16", "tflite-dynamic", "tflite-int8",
                                                  "onnx-fp32", "onnx-dynamic", "onnx-int8")}
    assert report["gate"]["inputs"].startswith("--eval test-images.npz")
    assert report["options"]["int8_io"] == "uint8"


def test_int8_tflite_takes_uint8_pixels_and_agrees_with_keras(digits, keras_test):
    x, y, keras_proba = keras_test
    path = digits.export("tflite-int8")
    proba, details = bare_litert(path, x)  # the uint8 images, exactly as stored
    assert details["dtype"] == np.uint8
    assert details["quantization"] == (1.0, 0)  # calibrated on 0..255 pixels: the identity
    agreement = np.mean(proba.argmax(1) == keras_proba.argmax(1))
    assert agreement >= 0.97
    assert np.mean(proba.argmax(1) == y) >= np.mean(keras_proba.argmax(1) == y) - 0.02
    assert path.stat().st_size < 0.5 * digits.export("tflite-fp32").stat().st_size


def test_float_exports_match_keras_probabilities(digits, keras_test):
    import onnxruntime as ort

    x, _, keras_proba = keras_test
    tflite, _ = bare_litert(digits.export("tflite-fp32"), x.astype(np.float32))
    np.testing.assert_allclose(tflite, keras_proba, atol=1e-4)
    session = ort.InferenceSession(str(digits.export("onnx-fp32")), providers=["CPUExecutionProvider"])
    (onnx,) = session.run(["probabilities"], {"image": x.astype(np.float32)})
    np.testing.assert_allclose(onnx, keras_proba, atol=1e-4)
    session = ort.InferenceSession(str(digits.export("onnx-int8")), providers=["CPUExecutionProvider"])
    (onnx8,) = session.run(["probabilities"], {"image": x.astype(np.float32)})
    assert np.mean(onnx8.argmax(1) == keras_proba.argmax(1)) >= 0.97


@pytest.mark.parametrize("name", ["tflite-fp32", "tflite-int8", "onnx-fp32", "onnx-int8"])
def test_manifests_read_back_the_image_adapter_and_class_names(digits, name):
    from edgekit.runtime import ImageModel, load, read_manifest

    path = digits.export(name)
    manifest = read_manifest(path)
    assert dict(manifest.adapter) == {"kind": "image", "height": 8, "width": 8, "channels": 1, "pixel_range": [0, 255],
                                      "channel_order": "L", "input": "image", "output": "probabilities"}
    assert list(manifest.labels) == [str(d) for d in range(10)]
    model = load(path)
    assert isinstance(model, ImageModel) and model.verified
    sidecar = json.loads((path.parent / "manifest.json").read_text())
    assert sidecar["adapter"] == dict(manifest.adapter)


def test_an_existing_output_folder_or_a_calibration_file_is_refused_before_any_work(digits, tmp_path):
    from edgekit.convert.foreign import ForeignOptions
    from edgekit.convert.image_bundle import convert_image_bundle
    from edgekit.runtime.errors import ConfigError

    with pytest.raises(ConfigError, match="already exists"):
        convert_image_bundle(digits.bundle, digits.exports)
    with pytest.raises(ConfigError, match="--calibration"):
        convert_image_bundle(digits.bundle, tmp_path / "out", ForeignOptions(calibration=tmp_path / "c.npz"))
    assert not (tmp_path / "out").exists()
