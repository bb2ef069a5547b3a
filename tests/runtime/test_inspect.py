"""The static inspector against independent readers of the same files: LiteRT's interpreter
and flatbuffer schema module, TensorFlow's converter metadata, the onnx package and the
backends edgekit loads the files with."""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from edgekit.runtime import ModelLoadError, load
from edgekit.runtime.inspect import inspect_model
from edgekit.runtime.inspect_tflite import runtime_can_load


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


inspect_models = _module("edgekit_tests_inspect_models", Path(__file__).with_name("inspect_models.py"))


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return inspect_models.build(tmp_path_factory.getbasetemp() / "inspect-models")


def _foreign_tflite(foreign):
    return {"cnn_fp32": foreign.cnn_fp32, "cnn_int8": foreign.cnn_int8, "two_io": foreign.two_io,
            "dynamic_seq": foreign.dynamic}


@pytest.fixture(scope="module")
def tflite_files(foreign, made):
    """Single-subgraph .tflite files that LiteRT loads (multi_signature has its own test)."""
    return {**_foreign_tflite(foreign), **{name: made[name] for name in inspect_models.TFLITE}}


@pytest.fixture(scope="module")
def onnx_files(foreign, made):
    return {"stateful": foreign.stateful_onnx, **{name: made[name] for name in inspect_models.ONNX}}


def _interpreter(path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # Without the default XNNPACK delegate the ops details list the model's own nodes.
    interp = Interpreter(model_path=str(path),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    return interp


def _litert_constants(interp) -> list[dict]:
    """Tensor details of the constants: read by some op, written by none, not a graph input."""
    ops = interp._get_ops_details()
    written = {i for op in ops for i in op["outputs"]}
    graph_inputs = {d["index"] for d in interp.get_input_details()}
    indices = {i for op in ops for i in op["inputs"] if i >= 0 and i not in written and i not in graph_inputs}
    details = {d["index"]: d for d in interp.get_tensor_details()}
    return [details[i] for i in sorted(indices)]


def _schema_model(path):
    from ai_edge_litert import schema_py_generated as schema

    return schema.ModelT.InitFromPackedBuf(bytearray(Path(path).read_bytes()), 0)


# -- TFLite ------------------------------------------------------------------------------

def test_builtin_operator_names_are_litert_schemas_enum():
    from ai_edge_litert import schema_py_generated as schema

    from edgekit.runtime.inspect_tflite_data import BUILTIN_OPERATORS

    enum = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    assert len(BUILTIN_OPERATORS) == len(enum)
    assert {i: n for i, n in enumerate(BUILTIN_OPERATORS)} == enum


def test_tflite_operator_histogram_is_the_interpreters(tflite_files):
    for name, path in tflite_files.items():
        ops = Counter(op["op_name"] for op in _interpreter(path)._get_ops_details())
        assert inspect_model(path).operators == dict(ops), name


def test_tflite_parameters_and_bytes_per_dtype_are_the_interpreters_constants(tflite_files):
    for name, path in tflite_files.items():
        interp = _interpreter(path)
        expected: dict[str, list[int]] = {}
        for detail in _litert_constants(interp):
            row = expected.setdefault(np.dtype(detail["dtype"]).name, [0, 0, 0])
            row[0] += 1
            row[1] += int(np.prod(detail["shape"]))
            row[2] += interp.get_tensor(detail["index"]).nbytes
        facts = inspect_model(path)
        got = {dtype: [r["tensors"], r["parameters"], r["bytes"]] for dtype, r in facts.weights["by_dtype"].items()}
        assert got == expected, name
        assert facts.parameters == sum(r[1] for r in expected.values())
        total = sum(r[2] for r in expected.values())
        for dtype, r in facts.weights["by_dtype"].items():
            assert r["share_of_bytes"] == pytest.approx(expected[dtype][2] / total)


def test_quantised_weights_per_channel_and_per_tensor_as_litert_reports_them(made, foreign):
    for path, dtype, granularity in ((made["dynamic"], "int8", "per-channel"),
                                     (made["dynamic_legacy"], "int8", "per-tensor"),
                                     (foreign.cnn_int8, "int8", "per-channel")):
        interp = _interpreter(path)
        scales = [len(d["quantization_parameters"]["scales"]) for d in _litert_constants(interp)
                  if np.dtype(d["dtype"]).name == dtype]
        expected = {"per-channel": sum(n > 1 for n in scales), "per-tensor": sum(n == 1 for n in scales)}
        row = inspect_model(path).weights["by_dtype"][dtype]
        assert {k: row[k] for k in expected} == expected
        assert row[granularity] == len(scales) > 0
    fp16 = inspect_model(made["fp16"]).weights
    assert list(fp16["by_dtype"]) == ["float16"] and fp16["quantized"]["tensors"] == 0


def test_tflite_inputs_and_outputs_are_what_the_backend_reports(tflite_files, foreign):
    for name, path in {**tflite_files, "multi_signature": foreign.multi_signature}.items():
        facts, model = inspect_model(path), load(path)
        assert (facts.inputs, facts.outputs) == (model.inputs, model.outputs), name


def test_signatures_and_every_subgraphs_ops_match_the_flatbuffer(foreign):
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    path = foreign.multi_signature
    model = _schema_model(path)
    codes = [names[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in model.operatorCodes]
    expected = Counter(codes[op.opcodeIndex] for sg in model.subgraphs for op in sg.operators)
    facts = inspect_model(path)
    assert facts.operators == dict(expected) and len(facts.details["subgraphs"]) == len(model.subgraphs) == 2
    listed = _interpreter(path).get_signature_list()
    got = {s["key"]: {"inputs": [e["name"] for e in s["inputs"]], "outputs": [e["name"] for e in s["outputs"]]}
           for s in facts.details["signatures"]}
    assert got == {k: {"inputs": list(v["inputs"]), "outputs": list(v["outputs"])} for k, v in listed.items()}
    assert {s["key"]: s["subgraph"] for s in facts.details["signatures"]} == \
        {s.signatureKey.decode(): s.subgraphIndex for s in model.signatureDefs}


def test_op_versions_are_the_opcode_tables(tflite_files):
    for name, path in tflite_files.items():
        model = _schema_model(path)
        used = Counter(model.operatorCodes[op.opcodeIndex].version for sg in model.subgraphs for op in sg.operators)
        got = Counter()
        for row in inspect_model(path).details["op_versions"]:
            got[row["version"]] += row["count"]
        assert got == used, name


def test_oldest_runtime_equals_the_converters_own_min_runtime_version(tflite_files):
    """TF 2.21's converter computes min_runtime_version from its copy of the same table."""
    for name, path in tflite_files.items():
        facts = inspect_model(path)
        recorded = {m["name"]: m.get("value") for m in facts.details["metadata"]}["min_runtime_version"]
        need = facts.details["min_runtime"]
        assert need["complete"] and need["release"] == recorded, name


def test_dynamic_range_fully_connected_v12_needs_a_release_newer_than_tflite_runtime_2_14(made):
    # FACTS.md: tflite-runtime 2.14 refuses TF 2.21 dynamic-range files with
    # "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'".
    versions = {c.version for c in _schema_model(made["dynamic"]).operatorCodes}
    assert versions == {12}
    need = inspect_model(made["dynamic"]).details["min_runtime"]
    assert need["release"] == "2.17.0" and need["needed_by"] == ["FULLY_CONNECTED v12"]
    assert runtime_can_load(need, "2.14.0") is False and runtime_can_load(need, "2.17.0") is True
    # Per-tensor dense weights keep the old op version, which 2.14 loads (tests/convert checks it really does).
    legacy = inspect_model(made["dynamic_legacy"]).details["min_runtime"]
    assert runtime_can_load(legacy, "2.14.0") is True


def test_opcode_fields_follow_schema_rules_and_unknown_pairs_stay_unknown(made):
    facts = {name: inspect_model(made[name]) for name in inspect_models.TFLITE_EDITED}
    # Only deprecated_builtin_code set (old writers), and a code past 127 with the placeholder.
    assert facts["old_writer_code"].operators == {"FULLY_CONNECTED": 3}
    assert facts["high_code"].operators == {"GELU": 1, "FULLY_CONNECTED": 2}
    custom = facts["custom_op"]
    assert custom.operators == {"MyOp": 1, "FULLY_CONNECTED": 2}
    need = custom.details["min_runtime"]
    assert need["unknown"] == ["MyOp v1 (custom)"] and not need["complete"] and need["release"] == "2.17.0"
    assert runtime_can_load(need, "2.14.0") is False  # FULLY_CONNECTED v12 still needs 2.17
    assert runtime_can_load(need, "2.17.0") is None  # and nobody can say where MyOp comes from
    unknown = facts["unknown_version"].details
    assert unknown["min_runtime"]["unknown"] == ["FULLY_CONNECTED v99"]
    assert runtime_can_load(unknown["min_runtime"], "2.30.0") is None  # newer than our table: never guessed
    rows = {(r["op"], r["version"]): r["min_runtime"] for r in unknown["op_versions"]}
    assert rows == {("FULLY_CONNECTED", 99): None, ("FULLY_CONNECTED", 12): "2.17.0"}


def test_conversion_metadata_is_decoded_as_tensorflows_schema_does(tflite_files):
    from tensorflow.lite.python import conversion_metadata_schema_py_generated as cm

    modes = {v: k for k, v in vars(cm.ModelOptimizationMode).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(cm.ModelType).items() if not k.startswith("_")}
    for name, path in tflite_files.items():
        facts = inspect_model(path)
        blob = load(path).metadata["CONVERSION_METADATA"]
        ref = cm.ConversionMetadataT.InitFromPackedBuf(bytearray(blob), 0)
        got = {m["name"]: m for m in facts.details["metadata"]}["CONVERSION_METADATA"]
        assert got["bytes"] == len(blob)
        assert got["value"] == {
            "tensorflow_version": ref.environment.tensorflowVersion.decode(),
            "api_version": ref.environment.apiVersion, "model_type": types[ref.environment.modelType],
            "model_hash": ref.environment.modelHash,
            "optimizations": [modes[int(m)] for m in list(ref.options.modelOptimizationModes if ref.options.modelOptimizationModes is not None else [])],
            "allow_custom_ops": ref.options.allowCustomOps, "enable_select_tf_ops": ref.options.enableSelectTfOps,
            "force_select_tf_ops": ref.options.forceSelectTfOps}, name


def test_an_embedded_tensor_manifest_is_parsed(foreign, tmp_path):
    from edgekit.convert.metadata import embed_tflite
    from edgekit.runtime import TensorManifest

    model = load(foreign.cnn_fp32)
    manifest = TensorManifest(format="tflite", quantization="fp32", inputs=model.inputs, outputs=model.outputs,
                              labels=tuple(range(10)))
    path = tmp_path / "with_manifest.tflite"
    path.write_bytes(embed_tflite(foreign.cnn_fp32.read_bytes(), manifest))
    facts = inspect_model(path)
    assert facts.manifest == load(path).manifest
    assert facts.manifest.labels == tuple(range(10)) and facts.inputs == model.inputs
    assert {m["name"] for m in facts.details["metadata"]} == {"edgekit", "min_runtime_version", "CONVERSION_METADATA"}


# -- ONNX --------------------------------------------------------------------------------

def test_onnx_operators_opsets_and_producer_are_onnx_loads(onnx_files):
    import onnx

    for name, path in onnx_files.items():
        model = onnx.load(str(path))
        facts = inspect_model(path)
        nodes = Counter((n.domain or "ai.onnx", n.op_type) for n in model.graph.node)
        assert {(r["domain"], r["op"]): r["count"] for r in facts.details["nodes_by_domain"]} == dict(nodes), name
        assert facts.n_operators == len(model.graph.node)
        d = facts.details
        assert d["opsets"] == {(o.domain or "ai.onnx"): o.version for o in model.opset_import}, name
        assert (d["ir_version"], d["producer_name"], d["producer_version"], d["graph_name"]) == \
            (model.ir_version, model.producer_name, model.producer_version, model.graph.name), name
        assert d["doc_string"] == model.doc_string
        assert d["metadata_props"] == {p.key: p.value for p in model.metadata_props}, name
    assert inspect_model(onnx_files["contrib"]).operators == {"com.microsoft:FusedMatMul": 1}


def test_onnx_parameters_and_bytes_per_dtype_are_numpy_helpers(onnx_files):
    import onnx
    from onnx import numpy_helper

    for name, path in onnx_files.items():
        expected: dict[str, list[int]] = {}
        for init in onnx.load(str(path)).graph.initializer:
            array = numpy_helper.to_array(init)
            row = expected.setdefault(array.dtype.name, [0, 0, 0])
            row[0] += 1
            row[1] += array.size
            row[2] += array.nbytes
        facts = inspect_model(path)
        got = {dtype: [r["tensors"], r["parameters"], r["bytes"]] for dtype, r in facts.weights["by_dtype"].items()}
        assert got == expected, name
        assert facts.parameters == sum(r[1] for r in expected.values())
    mix = inspect_model(onnx_files["fp16_mix"]).weights["by_dtype"]
    assert mix["float16"]["share_of_bytes"] == pytest.approx(64 / (64 + 16))


def test_onnx_quantised_weights_and_their_granularity(onnx_files):
    """Reference: each quantised op's weight initializer and the size of its scale or zero
    point, read with the onnx package."""
    import onnx
    from onnx import numpy_helper

    slots = {"MatMulInteger": (1, 3), "DequantizeLinear": (0, 1), "QLinearMatMul": (3, 4)}
    for name in ("mlp_dynamic", "mlp_dynamic_per_channel", "qdq", "qlinear", "mlp"):
        graph = onnx.load(str(onnx_files[name])).graph
        inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        expected = Counter()
        for node in graph.node:
            if node.op_type in slots:
                weight, scale = (node.input[i] for i in slots[node.op_type])
                if weight in inits:
                    expected["per-channel" if inits[scale].size > 1 else "per-tensor"] += 1
        q = inspect_model(onnx_files[name]).weights["quantized"]
        assert {k: q[k] for k in ("per-channel", "per-tensor")} == \
            {"per-channel": expected["per-channel"], "per-tensor": expected["per-tensor"]}, name
        assert q["tensors"] == sum(expected.values())
    assert inspect_model(onnx_files["mlp_dynamic_per_channel"]).weights["quantized"]["per-channel"] == 2
    assert inspect_model(onnx_files["qdq"]).weights["quantized"]["per-channel"] == 1


def test_onnx_inputs_and_outputs_are_what_onnxruntime_reports(onnx_files, tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    # IR 3 style: an initializer also listed as a graph input is no input to feed.
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3]),
                               helper.make_tensor_value_info("W", TensorProto.FLOAT, [3, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
                              initializer=[numpy_helper.from_array(np.ones((3, 2), np.float32), "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.save(model, tmp_path / "init_input.onnx")
    for name, path in {**onnx_files, "init_input": tmp_path / "init_input.onnx"}.items():
        facts, loaded = inspect_model(path), load(path)
        assert (facts.inputs, facts.outputs) == (loaded.inputs, loaded.outputs), name


# -- any file ----------------------------------------------------------------------------

def test_to_dict_is_json_with_the_same_facts(made):
    import json

    facts = inspect_model(made["dynamic"])
    data = json.loads(json.dumps(facts.to_dict()))
    assert data["operators"] == facts.operators and data["parameters"] == facts.parameters
    assert data["sha256"] == __import__("hashlib").sha256(made["dynamic"].read_bytes()).hexdigest()
    assert data["inputs"] == [s.to_dict() for s in load(made["dynamic"]).inputs]


def test_mutated_files_are_described_or_refused_with_model_load_error(foreign, made, tmp_path):
    rng = random.Random(0)
    refused = described = 0
    for source in (foreign.cnn_int8, made["qdq"], made["mlp_dynamic_per_channel"], foreign.multi_signature):
        original = source.read_bytes()
        for i in range(150):
            content = bytearray(original)
            if i % 3 == 0:
                content = content[: rng.randrange(1, len(content))]
            else:
                for _ in range(rng.randint(1, 8)):
                    content[rng.randrange(8, len(content))] = rng.randrange(256)
            path = tmp_path / f"mutated{source.suffix}"
            path.write_bytes(bytes(content))
            try:
                inspect_model(path)
                described += 1
            except ModelLoadError:
                refused += 1
    assert refused and described and refused + described == 600


def test_a_file_of_neither_format_is_refused(tmp_path):
    png = tmp_path / "picture.tflite"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(ModelLoadError, match="not a TFLite, ONNX or ORT model"):
        inspect_model(png)


def test_the_inspector_needs_no_backend_and_nothing_heavy(foreign, made):
    import json
    import subprocess

    code = ("import json, sys\nfrom edgekit.runtime.inspect import inspect_model\n"
            "for path in sys.argv[1:]:\n    inspect_model(path)\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code, str(foreign.cnn_int8), str(made["qdq"])],
                          capture_output=True, text=True, check=True, timeout=120)
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    heavy = {"tensorflow", "keras", "onnx", "onnxruntime", "ai_edge_litert", "tflite_runtime", "pandas", "scipy",
             "sklearn", "click", "rich", "flatbuffers", "google"}
    assert not modules & heavy, modules & heavy
