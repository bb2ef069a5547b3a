"""The image adapter: load() gives an ImageModel for image exports; predict on uint8 arrays
equals the bare interpreter, predict on files equals predict on the pixels Pillow decodes,
and the bare runtime imports neither Pillow nor anything heavy unless files are given."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/image_models.py: the cached digits bundle
from image_models import bare_litert, digits  # noqa: E402,F401  (a session fixture and helpers)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def test_images(digits):
    from edgekit.train.image_bundle import load_image_bundle

    test = load_image_bundle(digits.bundle).split("test")
    return test.x[:40], test.y[:40]


@pytest.mark.parametrize("name", ["tflite-int8", "tflite-fp32"])
def test_predict_on_uint8_arrays_equals_the_bare_interpreter(digits, test_images, name):
    from edgekit.runtime import ImageModel, load

    x, _ = test_images
    path = digits.export(name)
    model = load(path)
    assert isinstance(model, ImageModel) and model.image_size == (8, 8) and model.channels == 1
    expected, _ = bare_litert(path, x if name.endswith("int8") else x.astype(np.float32))
    prediction = model.predict(x, top_k=3)
    np.testing.assert_array_equal(prediction.probabilities, expected)
    order = np.argsort(-expected, axis=1, kind="stable")[:, :3]
    assert prediction.top_k == [[str(i) for i in row] for row in order]
    assert prediction.labels == [str(i) for i in order[:, 0]]
    np.testing.assert_array_equal(prediction.top_k_probabilities, np.take_along_axis(expected, order, axis=1))
    # run() still works on the tensor layer and gives the same outputs.
    raw = model.run({"image": x}, dequantize=True)["probabilities"]
    np.testing.assert_array_equal(raw, expected)
    records = model.predict(x[0]).to_records()  # one [h, w, c] image
    assert records[0]["label"] == prediction.labels[0] and len(records[0]["top_k"]) == 3


def test_onnx_image_export_predicts_like_bare_onnxruntime(digits, test_images):
    import onnxruntime as ort

    from edgekit.runtime import load

    x, _ = test_images
    path = digits.export("onnx-fp32")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (expected,) = session.run(["probabilities"], {"image": x.astype(np.float32)})
    np.testing.assert_allclose(load(path).predict(x).probabilities, expected, rtol=0, atol=1e-6)


def test_predict_on_image_files_equals_predict_on_their_pixels(digits, test_images, tmp_path):
    from edgekit.runtime import load

    x, _ = test_images
    model = load(digits.export("tflite-int8"))
    files = []
    for i, pixels in enumerate(x[:12]):
        path = tmp_path / f"{i}.png"
        Image.fromarray(pixels[..., 0], "L").save(path)
        files.append(path)
    from_files = model.predict(files)
    from_arrays = model.predict(x[:12])
    assert from_files.labels == from_arrays.labels
    np.testing.assert_array_equal(from_files.probabilities, from_arrays.probabilities)
    # An RGB JPEG of another size: the same as Pillow's own conversion and resize.
    big = tmp_path / "big.jpg"
    Image.fromarray(np.repeat(np.kron(x[0, ..., 0], np.ones((4, 4), np.uint8))[..., None], 3, axis=2)).save(big)
    with Image.open(big) as image:
        expected = np.asarray(image.convert("L").resize((8, 8), Image.Resampling.BILINEAR))[..., None]
    np.testing.assert_array_equal(model.read(big), expected)
    np.testing.assert_array_equal(model.predict(big).probabilities, model.predict(expected).probabilities)


def test_arrays_of_the_wrong_size_channels_or_values_are_refused(digits, test_images):
    from edgekit.runtime import SchemaError, load

    x, _ = test_images
    model = load(digits.export("tflite-int8"))
    with pytest.raises(SchemaError, match="8x8"):
        model.predict(np.zeros((2, 9, 8, 1), np.uint8))
    with pytest.raises(SchemaError, match="channel"):
        model.predict(np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(SchemaError, match="0..255"):
        model.predict(x.astype(np.float32) / 255)
    # Whole numbers in another dtype, and a bare [h, w] grayscale image, are the same pixels.
    np.testing.assert_array_equal(model.predict(x.astype(np.int64)).probabilities, model.predict(x).probabilities)
    np.testing.assert_array_equal(model.predict(x[0, ..., 0]).probabilities, model.predict(x[:1]).probabilities)


def test_a_corrupt_image_file_is_a_data_error(digits, tmp_path):
    from edgekit.runtime import DataError, load

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    with pytest.raises(DataError, match="bad.png"):
        load(digits.export("tflite-int8")).predict([bad])


def _modules_after(code: str) -> tuple[set[str], str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    lines = done.stdout.strip().splitlines()
    return {m.split(".")[0] for m in json.loads(lines[-1])}, "\n".join(lines[:-1])


def test_the_bare_runtime_predicts_arrays_without_pillow_and_imports_it_only_for_files(digits, tmp_path):
    path = digits.export("tflite-int8")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "black.png")
    arrays = f"import numpy as np\nfrom edgekit.runtime import load\nm = load({str(path)!r})\nprint(m.predict(np.zeros((8, 8, 1), np.uint8)).labels)"
    modules, _ = _modules_after(arrays)
    assert not modules & {"PIL", "tensorflow", "keras", "sklearn", "pandas", "scipy", "onnx"}
    modules, _ = _modules_after(arrays + f"\nm.predict({str(tmp_path / 'black.png')!r})")
    assert "PIL" in modules


def test_without_pillow_files_raise_missing_dependency_naming_the_images_extra(digits, tmp_path):
    path = digits.export("tflite-int8")
    (tmp_path / "x.png").write_bytes(b"")
    code = (
        "import sys\nsys.modules['PIL'] = None  # Pillow not installed\n"
        "import numpy as np\nfrom edgekit.runtime import MissingDependencyError, load\n"
        f"m = load({str(path)!r})\nprint(len(m.predict(np.zeros((1, 8, 8, 1), np.uint8))))\n"
        f"try:\n    m.predict({str(tmp_path / 'x.png')!r})\nexcept MissingDependencyError as exc:\n    print('missing:', exc)"
    )
    _, printed = _modules_after(code)
    assert printed.splitlines()[0] == "1"
    assert "Pillow is not installed" in printed and "edgekit[images]" in printed
