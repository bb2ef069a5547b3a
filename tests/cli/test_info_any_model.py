"""edgekit info on model files edgekit did not make: what it prints and its JSON agree with
the inspector, the interpreter, the onnx package and the backend that loads the file."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from edgekit.runtime import load
from edgekit.runtime.inspect import inspect_model


def edgekit(*args):
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, timeout=300)


def _inspect_models():
    path = Path(__file__).parents[1] / "runtime" / "inspect_models.py"
    spec = importlib.util.spec_from_file_location("edgekit_tests_inspect_models", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _made(tmp_path_factory):
    return _inspect_models().build(tmp_path_factory.getbasetemp() / "inspect-models")


def _json_roundtrip(value):
    return json.loads(json.dumps(value, default=str))


def test_a_foreign_int8_tflite_shows_its_ops_weights_runtime_and_the_backends_tensors(foreign):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    done = edgekit("info", str(foreign.cnn_int8))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    interp = Interpreter(model_path=str(foreign.cnn_int8),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    for op, count in Counter(o["op_name"] for o in interp._get_ops_details()).items():
        assert any(op in line and f" {count} " in line for line in out.splitlines()), (op, out)
    facts = inspect_model(foreign.cnn_int8)
    assert f"{facts.parameters} parameters" in out and "per-channel" in out
    assert "optimisations: PTQ_FULL_INTEGER" in out and "min_runtime_version 1.14.0" in out
    (spec,) = load(foreign.cnn_int8).inputs
    assert "Input tensors (ai-edge-litert, signature 'serving_default')" in out
    assert f"scale {spec.quantization.scale[0]:.6g}, zero point {spec.quantization.zero_point[0]}" in out


def test_json_is_the_inspection_plus_the_backends_view(foreign, tmp_path_factory):
    import onnx

    made = _made(tmp_path_factory)
    for path in (foreign.cnn_int8, foreign.multi_signature, foreign.stateful_onnx, made["mlp_dynamic_per_channel"]):
        done = edgekit("info", str(path), "--json")
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        backend = data.pop("backend")
        assert data == _json_roundtrip(inspect_model(path).to_dict()), path
        model = load(path)
        assert backend["name"] == model.backend and backend["matches_file"] is True
        assert backend["inputs"] == [s.to_dict() for s in model.inputs]
        assert backend["outputs"] == [s.to_dict() for s in model.outputs]
    data = json.loads(edgekit("info", str(made["mlp"]), "--json").stdout)
    reference = onnx.load(str(made["mlp"]))
    assert data["details"]["opsets"] == {(o.domain or "ai.onnx"): o.version for o in reference.opset_import}
    assert data["details"]["producer_name"] == reference.producer_name == "edgekit-tests"
    assert data["operators"] == dict(Counter(n.op_type for n in reference.graph.node))


def test_a_dynamic_range_file_is_reported_too_new_for_tflite_runtime_2_14(tmp_path_factory):
    made = _made(tmp_path_factory)
    dynamic = edgekit("info", str(made["dynamic"]))
    assert dynamic.returncode == 0, dynamic.stderr
    assert "2.17.0 (needed by FULLY_CONNECTED v12)" in dynamic.stdout
    assert "tflite-runtime 2.14.0 (its last release): too old for FULLY_CONNECTED v12" in dynamic.stdout
    legacy = edgekit("info", str(made["dynamic_legacy"]))
    assert "tflite-runtime 2.14.0 (its last release): supports every op version" in legacy.stdout


def test_a_file_the_backend_refuses_prints_its_facts_then_one_error_line(tmp_path_factory):
    made = _made(tmp_path_factory)
    done = edgekit("info", str(made["custom_op"]))
    assert done.returncode == 1
    assert "MyOp (custom)" in done.stdout and "unknown (MyOp v1 (custom))" not in done.stdout
    assert "at least 2.17.0; unknown for MyOp v1 (custom)" in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgekit: error: ") and "MyOp" in lines[0], done.stderr


def test_a_file_of_neither_format_is_one_error_line(tmp_path):
    picture = tmp_path / "model.tflite"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    done = edgekit("info", str(picture))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "not a TFLite, ONNX or ORT model" in done.stderr


def test_an_ort_file_shows_what_onnxruntime_reports(tmp_path_factory, tmp_path):
    made = _made(tmp_path_factory)
    (tmp_path / "mlp.onnx").write_bytes(made["mlp"].read_bytes())
    subprocess.run([sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    data = json.loads(edgekit("info", str(tmp_path / "mlp.ort"), "--json").stdout)
    assert data["format"] == "ort" and data["size_bytes"] == (tmp_path / "mlp.ort").stat().st_size
    assert data["backend"]["inputs"] == [s.to_dict() for s in load(tmp_path / "mlp.ort").inputs]


def test_a_tabular_export_keeps_its_manifest_and_gains_the_tensor_sections(mpg_nn):
    path = mpg_nn.export("tflite-int8")
    done = edgekit("info", str(path))
    assert done.returncode == 0, done.stderr
    assert "tflite / int8" in done.stdout and "parity: rmse" in done.stdout
    assert "Input tensors (ai-edge-litert" in done.stdout and "oldest TFLite runtime" in done.stdout
    data = json.loads(edgekit("info", str(path), "--json").stdout)
    assert data["quantization"] == "int8" and "schema" in data  # today's manifest keys stay at the top
    facts = inspect_model(path)
    assert data["inspection"]["operators"] == facts.operators and data["inspection"]["sha256"] == facts.sha256
    assert data["backend"]["inputs"] == [s.to_dict() for s in load(path).inputs]
