"""The structural checks on .tflite and .onnx files, and the ONNX external-data guard."""

import os

import pytest

from edgekit.runtime import ModelLoadError, load
from edgekit.runtime.manifest import METADATA_KEY
from edgekit.runtime.onnx_file import inspect_onnx
from edgekit.runtime.tflite_file import inspect_tflite


def test_tflite_reader_finds_the_embedded_manifest_like_the_official_schema(mpg_nn):
    from ai_edge_litert import schema_py_generated as schema

    buf = mpg_nn.export("tflite-dynamic").read_bytes()
    info = inspect_tflite(buf)
    model = schema.Model.GetRootAsModel(buf, 0)
    names = [model.Metadata(i).Name().decode() for i in range(model.MetadataLength())]
    assert set(info.metadata) == set(names)
    entry = next(model.Metadata(i) for i in range(model.MetadataLength()) if model.Metadata(i).Name() == METADATA_KEY.encode())
    assert info.metadata[METADATA_KEY] == model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    assert info.n_operators == model.Subgraphs(0).OperatorsLength()


def test_onnx_reader_matches_the_onnx_package(mpg_nn):
    import onnx

    buf = mpg_nn.export("onnx-int8").read_bytes()
    info = inspect_onnx(buf)
    proto = onnx.load_from_string(buf)
    assert info.metadata == {p.key: p.value for p in proto.metadata_props}
    assert info.ir_version == proto.ir_version and info.external_locations == []


@pytest.mark.parametrize("cut", [8, 100, 1000, -500])
def test_truncated_files_fail_the_structural_check(mpg_nn, cut):
    for name, inspect in (("tflite-fp32", inspect_tflite), ("onnx-fp32", inspect_onnx)):
        buf = mpg_nn.export(name).read_bytes()
        with pytest.raises(ModelLoadError):
            inspect(buf[:cut])


def test_a_one_byte_truncation_is_caught_by_the_hash_even_where_the_structure_survives(mpg_nn, tmp_path):
    import shutil

    # The last bytes of a flatbuffer can be alignment padding: structurally still valid.
    for name in ("tflite-fp32", "onnx-fp32"):
        folder = tmp_path / name
        shutil.copytree(mpg_nn.exports / name, folder)
        path = next(folder.glob("model.*"))
        path.write_bytes(path.read_bytes()[:-1])
        with pytest.raises(ModelLoadError):
            load(path)


def _onnx_with_external(tmp_path, location: str):
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((1, 1), np.float32), "w")
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", location
    weight.ClearField("raw_data")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["prediction"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
                              [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, [None, 1])], [weight])
    model = helper.make_model(graph)
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../escape.bin"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path, location):
    path = _onnx_with_external(tmp_path, location)
    with pytest.raises(ModelLoadError, match="escapes the model folder"):
        load(path)


def test_external_data_through_a_symlink_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "w.bin").write_bytes(b"\0" * 4)
    folder = tmp_path / "model"
    folder.mkdir()
    os.symlink(outside / "w.bin", folder / "w.bin")
    path = _onnx_with_external(folder, "w.bin")
    with pytest.raises(ModelLoadError, match="resolves outside"):
        load(path)
