"""edgekit predict with raw tensors, for model files edgekit did not make."""

import json
import subprocess
import sys

import numpy as np


def edgekit(*args):
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, timeout=300)


def _bare_cnn(path, x):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    index = interp.get_input_details()[0]["index"]
    interp.resize_tensor_input(index, list(x.shape))
    interp.allocate_tensors()
    interp.set_tensor(index, x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def test_npz_in_npz_out_equals_the_bare_interpreter(foreign, tmp_path):
    x = foreign.digits_x[:9]
    np.savez(tmp_path / "in.npz", image=x)
    done = edgekit("predict", str(foreign.cnn_fp32), "--inputs", str(tmp_path / "in.npz"), "--out", str(tmp_path / "out.npz"))
    assert done.returncode == 0, done.stderr
    with np.load(tmp_path / "out.npz") as out:
        (name,) = out.files
        np.testing.assert_array_equal(out[name], _bare_cnn(foreign.cnn_fp32, x))
    assert "outputs written to" in done.stderr


def test_input_pairs_and_json_output_for_the_stateful_onnx(foreign, tmp_path):
    import onnxruntime as ort

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    state = np.ones((1, 3), np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "state.npy", state)
    np.save(tmp_path / "step.npy", np.asarray(4, dtype=np.int64))
    done = edgekit("predict", str(foreign.stateful_onnx), "--input", f"x={tmp_path / 'x.npy'}",
                   "--input", f"state={tmp_path / 'state.npy'}", "--input", f"step={tmp_path / 'step.npy'}")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    session = ort.InferenceSession(str(foreign.stateful_onnx), providers=["CPUExecutionProvider"])
    y, next_state, next_step = session.run(None, {"x": x, "step": np.asarray(4, np.int64), "state": state})
    np.testing.assert_array_equal(np.asarray(printed["y"]["data"], np.float32), y)
    assert printed["next_step"] == {"dtype": "int64", "shape": [], "data": 5}
    assert printed["next_state"]["shape"] == [1, 3]


def test_json_feeds_for_a_tensor_model(foreign):
    done = edgekit("predict", str(foreign.multi_signature), "--signature", "scale", "--json", '{"v": [[1, 2, 3]]}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tripled"]["data"] == [[3.0, 6.0, 9.0]]


def test_int8_outputs_raw_or_dequantized(foreign, tmp_path):
    x = foreign.digits_x[:4]
    np.savez(tmp_path / "in.npz", image=x)
    raw = json.loads(edgekit("predict", str(foreign.cnn_int8), "--inputs", str(tmp_path / "in.npz")).stdout)
    deq = json.loads(edgekit("predict", str(foreign.cnn_int8), "--inputs", str(tmp_path / "in.npz"), "--dequantize").stdout)
    (name,) = raw
    assert raw[name]["dtype"] == "uint8" and deq[name]["dtype"] == "float32"
    probabilities = np.asarray(deq[name]["data"])
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=0.05)  # dequantised softmax scores
    assert (probabilities.argmax(1) == np.asarray(raw[name]["data"]).argmax(1)).all()


def test_tensor_mistakes_are_one_line_usage_errors(foreign, tmp_path):
    np.savez(tmp_path / "wrong.npz", imgae=foreign.digits_x[:1])
    cases = [
        (("--inputs", str(tmp_path / "wrong.npz")), "did you mean 'image'"),
        (("--input", "image"), "is not NAME=FILE.npy"),
        (("--input", f"image={tmp_path / 'missing.npy'}"), "no such file"),
        ((str(tmp_path / "rows.csv"),), "takes raw tensors, not a CSV"),
    ]
    (tmp_path / "rows.csv").write_text("a\n1\n")
    for args, message in cases:
        done = edgekit("predict", str(foreign.cnn_fp32), *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    # An object array would need pickle: refused, not loaded.
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    done = edgekit("predict", str(foreign.cnn_fp32), "--input", f"image={tmp_path / 'obj.npy'}")
    assert done.returncode == 2 and "not a readable .npy" in done.stderr
    assert not (tmp_path / "out.npz").exists()


def test_raw_tensors_also_drive_a_tabular_export(mpg_nn, tmp_path):
    from edgekit.runtime import load

    path = mpg_nn.export("tflite-fp32")
    model = load(path)
    (spec,) = model.inputs
    x = np.random.default_rng(0).normal(size=(5, spec.shape[1])).astype(np.float32)
    np.savez(tmp_path / "in.npz", **{spec.name: x})
    done = edgekit("predict", str(path), "--inputs", str(tmp_path / "in.npz"), "--out", str(tmp_path / "o.npz"))
    assert done.returncode == 0, done.stderr
    with np.load(tmp_path / "o.npz") as out:
        np.testing.assert_allclose(out[model.outputs[0].name].reshape(-1), model.predict_array(x), rtol=0, atol=0)
