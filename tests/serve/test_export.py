"""``--export``: an exported file served through edgekit.runtime instead of the source model.

``edgekit.convert`` is not needed here: a linear ONNX graph with an embedded edgekit
manifest is built by hand, and its reference answers are plain numpy ``x @ w + b``.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import numpy as np
import pytest

from edgekit.runtime.inputs import to_columns, to_matrix
from edgekit.runtime.manifest import Manifest
from edgekit.serve import create_app, load_predictor, serve_in_thread

onnx = pytest.importorskip("onnx")


def write_linear_onnx(path, schema, weights: np.ndarray, bias: np.ndarray, *, task: str, labels=None):
    """x [n, f] -> x @ W + b as 'prediction' (regression) or softmax 'probabilities'."""
    from onnx import TensorProto, helper, numpy_helper

    n_out = weights.shape[1]
    output = "prediction" if task == "regression" else "probabilities"
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"])]
    if task == "regression":
        nodes.append(helper.make_node("Add", ["xw", "B"], [output]))
    else:
        nodes += [helper.make_node("Add", ["xw", "B"], ["logits"]), helper.make_node("Softmax", ["logits"], [output], axis=1)]
    graph = helper.make_graph(
        nodes, "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, len(schema)])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, [None, n_out])],
        [numpy_helper.from_array(weights.astype(np.float32), "W"), numpy_helper.from_array(bias.astype(np.float32), "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    manifest = Manifest(format="onnx", quantization="fp32", task=task, target="y", schema=schema, input_layout="matrix",
                        outputs=(output,), labels=tuple(labels) if labels is not None else None)
    from edgekit.convert.metadata import embed_onnx

    path.write_bytes(embed_onnx(model, manifest))  # embedded and sealed, as edgekit convert writes it
    return path


def reference(served, weights, bias):
    rows = served.frame.dropna().reset_index(drop=True)
    x = to_matrix(to_columns({f: rows[f].to_numpy() for f in served.names}, served.schema), served.schema)
    return rows, x.astype(np.float32) @ weights.astype(np.float32) + bias.astype(np.float32)


def test_export_regression_through_the_runtime_matches_numpy(mpg, tmp_path, make_triton_client, make_triton_inputs):
    rng = np.random.default_rng(0)
    weights, bias = rng.normal(size=(len(mpg.names), 1)) / 100, np.array([20.0])
    path = write_linear_onnx(tmp_path / "linear.onnx", mpg.schema, weights, bias, task="regression")
    rows, expected = reference(mpg, weights, bias)
    predictor = load_predictor(mpg.path, export=path)
    assert predictor.platform == "onnxruntime_onnx" and predictor.name == "linear"
    with serve_in_thread(create_app(predictor)) as server:
        result = make_triton_client(server).infer("linear", make_triton_inputs(mpg, rows))
        np.testing.assert_allclose(result.as_numpy("prediction"), expected, rtol=1e-5, atol=1e-4)


def test_export_classification_through_the_runtime_matches_numpy(iris, tmp_path):
    rng = np.random.default_rng(1)
    weights, bias = rng.normal(size=(4, 3)), rng.normal(size=3)
    path = write_linear_onnx(tmp_path / "clf.onnx", iris.schema, weights, bias, task="classification", labels=[0, 1, 2])
    rows, logits = reference(iris, weights, bias)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    predictor = load_predictor(export=path, name="iris-onnx")
    assert predictor.output_names == ["label", "probabilities"]
    with serve_in_thread(create_app(predictor)) as server:
        body = {"instances": [{k: float(v) for k, v in r.items()} for r in rows.to_dict("records")]}
        response = httpx.post(f"{server.url}/v1/models/iris-onnx:predict", json=body)
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert [p["label"] for p in predictions] == np.argmax(probabilities, axis=1).tolist()
        np.testing.assert_allclose([p["probabilities"] for p in predictions], probabilities, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_export_that_does_not_match_the_bundle_is_refused(mpg, iris, tmp_path):
    path = write_linear_onnx(tmp_path / "iris.onnx", iris.schema, np.ones((4, 1)), np.zeros(1), task="regression")
    result = subprocess.run([sys.executable, "-m", "edgekit", "serve", str(mpg.path), "--export", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "export this bundle again" in result.stderr


def test_serving_an_export_never_imports_the_training_stack(mpg, tmp_path):
    """The export path is the runtime's: no TensorFlow, pandas or scikit-learn in the server."""
    path = write_linear_onnx(tmp_path / "m.onnx", mpg.schema, np.ones((len(mpg.names), 1)), np.zeros(1),
                             task="regression")
    code = (
        "import sys\n"
        "from edgekit.serve import create_app, load_predictor\n"
        f"app = create_app(load_predictor({str(mpg.path)!r}, export={str(path)!r}))\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'pandas', 'sklearn', 'edgekit.train') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
