"""Keras -> TFLite and ONNX: every quantisation, parity reproducible in a bare backend process."""

import json

import numpy as np
import pytest

from edgekit.runtime import load, read_manifest
from edgekit.runtime.inputs import to_columns, to_matrix
from edgekit.train import load_bundle



@pytest.fixture(scope="module")
def reference(mpg_nn):
    bundle = load_bundle(mpg_nn.bundle)
    test = bundle.split("test")
    schema = bundle.card.schema
    x = to_matrix(to_columns({f.name: test[f.name].to_numpy() for f in schema}, schema), schema)
    return x, bundle.source_model().predict_matrix(x)


def test_every_quantisation_is_produced_and_passes(mpg_nn):
    report = json.loads((mpg_nn.exports / "conversion.json").read_text())
    statuses = {r["name"]: r["status"] for r in report["results"]}
    assert statuses == {"tflite-fp32": "passed", "tflite-fp16": "passed", "tflite-dynamic": "passed", "tflite-int8": "passed",
                        "onnx-fp32": "passed", "onnx-fp16": "not_applicable", "onnx-dynamic": "passed", "onnx-int8": "passed"}
    sizes = {r["name"]: r["size_bytes"] for r in report["results"] if r["size_bytes"]}
    assert sizes["tflite-fp16"] < sizes["tflite-fp32"] and sizes["tflite-dynamic"] < sizes["tflite-fp32"]


@pytest.mark.parametrize("name", ["tflite-fp32", "tflite-fp16", "tflite-dynamic", "tflite-int8", "onnx-fp32", "onnx-dynamic", "onnx-int8"])
def test_bare_backend_process_reproduces_the_parity_numbers(mpg_nn, reference, bare_backend, name):
    x, source = reference
    path = mpg_nn.export(name)
    outputs, heavy = bare_backend(path, x)
    assert heavy == []  # only the backend was imported
    error = np.abs(outputs - source)
    parity = read_manifest(path).parity
    assert error.max() == pytest.approx(parity["max_abs_error"], rel=1e-4, abs=1e-6)
    assert error.mean() == pytest.approx(parity["mean_abs_error"], rel=1e-4, abs=1e-6)
    if name.endswith("fp32"):
        assert error.max() <= 1e-3  # MPG


def test_full_int8_keeps_preprocessing_in_float(mpg_nn):
    from ai_edge_litert import schema_py_generated as schema

    buf = mpg_nn.export("tflite-int8").read_bytes()
    model = schema.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    first_input = graph.Tensors(graph.Inputs(0))
    assert first_input.Type() == schema.TensorType.FLOAT32
    ops = [model.OperatorCodes(graph.Operators(i).OpcodeIndex()).BuiltinCode() for i in range(graph.OperatorsLength())]
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    kinds = [names[o] for o in ops]
    assert kinds.index("QUANTIZE") > kinds.index("SUB")  # normalisation runs before quantisation
    assert "FULLY_CONNECTED" in kinds


def test_int8_io_export_moves_preprocessing_into_the_manifest(mpg_nn, tmp_path):
    from edgekit.convert import ConvertOptions, convert

    report = convert(mpg_nn.bundle, tmp_path / "io8", ConvertOptions(formats=("tflite",), quantizations=("int8",), int8_io="int8"),
                     show_progress=False)
    assert report.passed, report.to_markdown()
    model = load(tmp_path / "io8" / "tflite-int8" / "model.tflite")
    assert model.manifest.preprocessing is not None and model.manifest.quant["io"] == "int8"
    assert model.backend.input_quantization is not None  # int8 input tensor


def test_keras_onnx_has_stable_names_and_dynamic_batch(mpg_nn):
    import onnx

    proto = onnx.load(mpg_nn.export("onnx-fp32"))
    assert [i.name for i in proto.graph.input] == ["x"] and [o.name for o in proto.graph.output] == ["prediction"]
    dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert not dim.HasField("dim_value")  # symbolic batch
