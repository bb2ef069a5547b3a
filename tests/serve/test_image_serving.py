"""``edgekit serve`` on image models: the digits int8 export and the bundle's Keras source
behind KServe V2 and TF Serving, on loopback. Answers equal ``ImageModel.predict`` on the
same pixels or files (and Keras' own ``predict`` for the source); undecodable bytes and
wrong shapes are 400s with one message; ``--log`` feeds ``edgekit monitor``."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
from PIL import Image

from edgekit.serve import create_app, load_predictor, serve_in_thread

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/image_models.py: the cached digits bundle
from image_models import digits  # noqa: E402,F401  (a session fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def test_images(digits):
    from edgekit.train.image_bundle import load_image_bundle

    return load_image_bundle(digits.bundle).split("test").x[:48]


@pytest.fixture(scope="module")
def int8_server(digits):
    with serve_in_thread(create_app(load_predictor(digits.export("tflite-int8")), name="digits")) as server:
        yield server


@pytest.fixture(scope="module")
def photos(test_images, tmp_path_factory):
    """Two grayscale PNGs upscaled to 32x32 and one RGB JPEG: sizes and channels the model does not take."""
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for i, pixels in enumerate(test_images[:3]):
        image = Image.fromarray(pixels[..., 0], "L").resize((32, 32), Image.NEAREST)
        if i == 2:
            path = folder / f"{i}.jpg"
            image.convert("RGB").save(path, quality=95)
        else:
            path = folder / f"{i}.png"
            image.save(path)
        paths.append(path)
    return paths


def infer(server, inputs, name="digits"):
    return httpx.post(f"{server.url}/v2/models/{name}/infer", json={"inputs": inputs}, timeout=30)


def outputs_of(response) -> dict:
    assert response.status_code == 200, response.text
    out = {o["name"]: o for o in response.json()["outputs"]}
    probabilities = np.asarray(out["probabilities"]["data"], dtype=np.float32).reshape(out["probabilities"]["shape"])
    return {"label": out["label"]["data"], "probabilities": probabilities}


def test_uint8_pixels_in_json_equal_image_model_predict(digits, int8_server, test_images):
    from edgekit.runtime import load

    expected = load(digits.export("tflite-int8")).predict(test_images)
    got = outputs_of(infer(int8_server, [{"name": "image", "datatype": "UINT8", "shape": list(test_images.shape),
                                          "data": test_images.ravel().tolist()}]))
    np.testing.assert_array_equal(got["probabilities"], expected.probabilities)
    assert got["label"] == expected.labels


def test_tritonclient_binary_pixels_and_raw_encoded_bytes(digits, int8_server, test_images, photos):
    from edgekit.runtime import load

    model = load(digits.export("tflite-int8"))
    client = httpclient.InferenceServerClient(url=int8_server.url.removeprefix("http://"), network_timeout=30.0)
    pixels = httpclient.InferInput("image", list(test_images.shape), "UINT8")
    pixels.set_data_from_numpy(test_images, binary_data=True)
    result = client.infer("digits", [pixels])
    np.testing.assert_array_equal(result.as_numpy("probabilities"), model.predict(test_images).probabilities)

    encoded = np.asarray([p.read_bytes() for p in photos], dtype=np.object_)
    files = httpclient.InferInput("image_bytes", [len(photos)], "BYTES")
    files.set_data_from_numpy(encoded, binary_data=True)
    result = client.infer("digits", [files])
    expected = model.predict(photos)  # the same files through the runtime's decoder and resize
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected.probabilities)
    assert [v.decode() for v in result.as_numpy("label")] == expected.labels


def test_base64_png_and_jpeg_in_json_equal_predict_on_the_files(digits, int8_server, photos):
    from edgekit.runtime import load

    expected = load(digits.export("tflite-int8")).predict(photos)
    data = [base64.b64encode(p.read_bytes()).decode() for p in photos]
    got = outputs_of(infer(int8_server, [{"name": "image_bytes", "datatype": "BYTES", "shape": [3], "data": data}]))
    np.testing.assert_array_equal(got["probabilities"], expected.probabilities)
    assert got["label"] == expected.labels
    # TF Serving's {"b64": ...} rows: the same answers
    r = httpx.post(f"{int8_server.url}/v1/models/digits:predict", json={"instances": [{"b64": d} for d in data]})
    assert r.status_code == 200, r.text
    assert [row["label"] for row in r.json()["predictions"]] == expected.labels


@pytest.mark.parametrize("inputs, message", [
    ([{"name": "image_bytes", "datatype": "BYTES", "shape": [1], "data": ["bm90IGFuIGltYWdl"]}], "not a readable image"),
    ([{"name": "image_bytes", "datatype": "BYTES", "shape": [1], "data": ["%%% not base64"]}], "not valid base64"),
    ([{"name": "image", "datatype": "UINT8", "shape": [1, 4, 4, 1], "data": [0] * 16}], "takes uint8 pixels [n, 8, 8, 1]"),
    ([{"name": "image", "datatype": "UINT8", "shape": [1, 8, 8, 3], "data": [0] * 192}], "has shape [1, 8, 8, 3]"),
    ([{"name": "image", "datatype": "INT32", "shape": [1, 8, 8, 1], "data": [300] * 64}], "whole numbers 0..255"),
    ([{"name": "image", "datatype": "UINT8", "shape": [1, 8, 8, 1], "data": [0] * 64}] * 2, "send one input"),
])
def test_bad_images_are_400_with_one_message(int8_server, inputs, message):
    response = infer(int8_server, inputs)
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error and "\n" not in error and "BytesIO" not in error


def test_metadata_names_both_inputs_and_the_labels(int8_server):
    doc = httpx.get(f"{int8_server.url}/v2/models/digits").json()
    assert doc["inputs"] == [{"name": "image", "datatype": "UINT8", "shape": [-1, 8, 8, 1]},
                             {"name": "image_bytes", "datatype": "BYTES", "shape": [-1]}]
    assert doc["outputs"][1] == {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}
    assert doc["parameters"]["image"]["labels"] == [str(i) for i in range(10)]


def test_the_bundle_serves_its_keras_source_as_keras_predicts(digits, test_images):
    from edgekit.train.image_bundle import load_image_bundle

    expected = load_image_bundle(digits.bundle).load_model().predict(test_images.astype(np.float32), verbose=0)
    with serve_in_thread(create_app(load_predictor(digits.bundle), name="source")) as server:
        got = outputs_of(infer(server, [{"name": "image", "datatype": "UINT8", "shape": list(test_images.shape),
                                         "data": test_images.ravel().tolist()}], name="source"))
    np.testing.assert_allclose(got["probabilities"], expected, atol=1e-5)
    assert got["label"] == [str(i) for i in np.argmax(expected, axis=1)]


def test_a_served_log_of_darkened_images_makes_monitor_alert(digits, test_images, tmp_path):
    from edgekit.monitor import run_monitor

    app = create_app(load_predictor(digits.export("tflite-int8")), name="digits", log=tmp_path / "served.db")
    dark = np.round(test_images * 0.5).astype(np.uint8)
    with serve_in_thread(app) as server:
        response = infer(server, [{"name": "image", "datatype": "UINT8", "shape": list(dark.shape),
                                   "data": dark.ravel().tolist()}])
        assert len(response.json()["parameters"]["prediction_ids"]) == len(dark)
    report = run_monitor(tmp_path / "served.db", digits.bundle)
    assert report.rows == len(dark)
    assert {f.name: f.status for f in report.features}["brightness"] == "alert"
