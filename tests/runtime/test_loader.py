"""load(): format from content, embedded manifest, sha256 verification, backend choice."""

import shutil

import pytest

from edgekit.runtime import IntegrityError, MissingDependencyError, ModelLoadError, load, read_manifest
from edgekit.runtime.errors import ConfigError


def test_format_is_detected_from_content_not_extension(mpg_nn, tmp_path):
    disguised = tmp_path / "model.bin"
    shutil.copy(mpg_nn.export("tflite-fp32"), disguised)
    model = load(disguised)
    assert model.format == "tflite"
    onnx_as_tflite = tmp_path / "really_onnx.tflite"
    shutil.copy(mpg_nn.export("onnx-fp32"), onnx_as_tflite)
    assert load(onnx_as_tflite).format == "onnx"


def test_embedded_manifest_alone_describes_the_model(mpg_nn, tmp_path):
    alone = tmp_path / "alone.tflite"
    shutil.copy(mpg_nn.export("tflite-int8"), alone)  # no sidecar beside it
    manifest = read_manifest(alone)
    assert manifest.sha256 is None and manifest.quantization == "int8"
    assert manifest.schema.names == ["cylinders", "displacement", "horsepower", "weight", "acceleration", "model_year", "origin"]


def test_sidecar_adds_file_facts(mpg_nn):
    manifest = read_manifest(mpg_nn.export("onnx-fp32"))
    assert manifest.file == "model.onnx" and len(manifest.sha256) == 64 and manifest.parity["passed"]


def test_a_changed_file_is_detected_by_its_sha256(mpg_nn, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(mpg_nn.exports / "tflite-fp32", folder)
    data = bytearray((folder / "model.tflite").read_bytes())
    data[-200] ^= 0xFF  # inside the embedded JSON: the file still parses
    (folder / "model.tflite").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256"):
        load(folder / "model.tflite")
    with pytest.raises(ModelLoadError):  # IntegrityError is a ModelLoadError
        load(folder / "model.tflite")


def test_verify_false_skips_the_hash_check(mpg_nn, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(mpg_nn.exports / "onnx-fp32", folder)
    manifest = (folder / "manifest.json").read_text().replace('"sha256": "', '"sha256": "00')
    (folder / "manifest.json").write_text(manifest)
    with pytest.raises(IntegrityError):
        load(folder / "model.onnx")
    assert load(folder / "model.onnx", verify=False).format == "onnx"


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"hello world, not a model", "not a TFLite, ONNX or ORT model"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "not a TFLite"),
])
def test_non_models_are_refused_with_the_reason(tmp_path, content, reason):
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=reason):
        load(path)


def test_missing_file_and_folder_are_load_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="no such model file"):
        load(tmp_path / "nope.tflite")
    with pytest.raises(ModelLoadError, match="not a file"):
        load(tmp_path)


def test_a_model_without_any_manifest_loads_as_a_tensor_model_but_has_no_manifest(tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    from edgekit.runtime import TensorModel, read_manifest

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])])
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph), path)
    model = load(path)
    assert isinstance(model, TensorModel) and model.manifest is None
    x = np.arange(3, dtype=np.float32).reshape(3, 1)
    np.testing.assert_array_equal(model.run({"x": x})["y"], x)
    with pytest.raises(ModelLoadError, match="no edgekit manifest"):
        read_manifest(path)
    assert read_manifest(path, required=False) is None


def test_an_unavailable_backend_names_the_extra_to_install(mpg_nn):
    with pytest.raises(MissingDependencyError, match=r"pip install 'edgekit\[litert\]'"):
        load(mpg_nn.export("tflite-fp32"), backend="tflite-runtime")  # not installed here (numpy 2)


def test_a_backend_for_the_wrong_format_is_a_usage_error(mpg_nn):
    with pytest.raises(ConfigError, match="cannot run tflite"):
        load(mpg_nn.export("tflite-fp32"), backend="onnxruntime")


def test_threads_are_passed_to_the_backend(mpg_nn):
    model = load(mpg_nn.export("onnx-fp32"), threads=1)
    assert model.backend._session.get_session_options().intra_op_num_threads == 1


def test_a_sidecar_without_a_hash_cannot_silently_turn_verification_off(mpg_nn, tmp_path):
    import json

    folder = tmp_path / "copy"
    shutil.copytree(mpg_nn.exports / "onnx-fp32", folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["sha256"] = None
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="records no sha256"):
        load(folder / "model.onnx")
    assert load(folder / "model.onnx", verify=False).format == "onnx"


def test_the_tf_lite_fallback_predicts_like_ai_edge_litert(mpg_nn):
    import numpy as np

    x = np.array([[4, 97, 88, 2130, 14.5, 70, 3], [8, 350, 165, 3693, 11.5, 70, 1]], np.float32)
    litert = load(mpg_nn.export("tflite-int8"))
    fallback = load(mpg_nn.export("tflite-int8"), backend="tf.lite")
    assert fallback.backend.name == "tf.lite"
    np.testing.assert_allclose(fallback.predict_array(x), litert.predict_array(x), rtol=1e-6)
