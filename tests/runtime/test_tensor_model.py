"""The tensor layer on models edgekit did not make: specs as the backend reports them,
outputs equal to the bare backend's, typed errors for bad feeds."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.runtime import SchemaError, TensorModel, load
from edgekit.runtime.errors import ConfigError


def _litert(path, **kwargs):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), **kwargs)
    interp.allocate_tensors()
    return interp


def _bare_tflite(path, feeds_by_index):
    interp = _litert(path)
    for index, x in feeds_by_index.items():
        interp.resize_tensor_input(index, list(x.shape))
    interp.allocate_tensors()
    for index, x in feeds_by_index.items():
        interp.set_tensor(index, x)
    interp.invoke()
    return {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}


def test_a_foreign_cnn_loads_as_a_tensor_model_with_the_backends_specs(foreign):
    model = load(foreign.cnn_fp32)
    assert isinstance(model, TensorModel) and model.manifest is None
    interp = _litert(foreign.cnn_fp32)
    runner_details = interp.get_signature_runner().get_input_details()
    (key, detail), = runner_details.items()
    (spec,) = model.inputs
    assert spec.name == key
    assert spec.shape == tuple(None if d < 0 else int(d) for d in detail["shape_signature"])
    assert spec.dtype == np.dtype(detail["dtype"]).name
    assert model.outputs[0].shape[-1] == 10


def test_float_cnn_outputs_equal_the_bare_interpreter_bit_for_bit(foreign):
    model = load(foreign.cnn_fp32)
    x = foreign.digits_x[:7]
    out = model.run({model.inputs[0].name: x})
    interp = _litert(foreign.cnn_fp32)
    index = interp.get_input_details()[0]["index"]
    bare = _bare_tflite(foreign.cnn_fp32, {index: x})
    (name, y), = out.items()
    np.testing.assert_array_equal(y, next(iter(bare.values())))
    assert y.shape == (7, 10)


def test_int8_model_with_uint8_input_takes_float_or_raw_integers(foreign):
    model = load(foreign.cnn_int8)
    spec = model.inputs[0]
    assert spec.dtype == "uint8" and spec.quantized
    scale, zero_point = spec.quantization.scale[0], spec.quantization.zero_point[0]
    x = foreign.digits_x[:20]
    raw = np.clip(np.round(x / scale + zero_point), 0, 255).astype(np.uint8)
    interp = _litert(foreign.cnn_int8)
    bare = next(iter(_bare_tflite(foreign.cnn_int8, {interp.get_input_details()[0]["index"]: raw}).values()))
    from_raw = model.run({spec.name: raw})[model.outputs[0].name]
    from_float = model.run({spec.name: x})[model.outputs[0].name]
    assert from_raw.dtype == np.uint8
    np.testing.assert_array_equal(from_raw, bare)
    np.testing.assert_array_equal(from_float, bare)  # quantising the float input is what the bare caller did
    probabilities = model.run({spec.name: x}, dequantize=True)[model.outputs[0].name]
    out_q = model.outputs[0].quantization
    np.testing.assert_allclose(probabilities, (bare.astype(np.float32) - out_q.zero_point[0]) * out_q.scale[0])
    # Agreement with the float model on the class: the int8 file is a real quantisation.
    float_model = load(foreign.cnn_fp32)
    top_float = float_model.run({spec.name: x})[float_model.outputs[0].name].argmax(1)
    assert (probabilities.argmax(1) == top_float).mean() >= 0.9


def test_two_inputs_and_two_outputs_by_name(foreign):
    model = load(foreign.two_io)
    assert sorted(s.name for s in model.inputs) == ["a", "b"]
    assert sorted(s.name for s in model.outputs) == ["parts", "total"]
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(5, 3)).astype(np.float32)
    out = model.run({"b": b, "a": a})
    runner = _litert(foreign.two_io).get_signature_runner()
    bare = runner(a=a, b=b)
    for name in ("total", "parts"):
        np.testing.assert_array_equal(out[name], bare[name])
    assert out["total"].shape == (5, 1) and out["parts"].shape == (5, 2)


def test_dynamic_batch_and_sequence_resize_once_per_shape(foreign):
    model = load(foreign.dynamic)
    (spec,) = model.inputs
    assert spec.shape == (None, None, 6)
    rng = np.random.default_rng(2)
    runner = _litert(foreign.dynamic).get_signature_runner()
    for shape in [(1, 5, 6), (3, 17, 6), (3, 17, 6), (2, 1, 6)]:
        x = rng.normal(size=shape).astype(np.float32)
        y = model.run({spec.name: x})[model.outputs[0].name]
        np.testing.assert_array_equal(y, runner(**{spec.name: x})[model.outputs[0].name])
        assert y.shape == (shape[0], 4)


def test_onnx_int64_scalar_and_state_fed_back(foreign):
    import onnxruntime as ort

    model = load(foreign.stateful_onnx)
    specs = {s.name: s for s in model.inputs}
    assert specs["x"].shape == ("batch", 3) and specs["x"].dtype == "float32"
    assert specs["step"].shape == () and specs["step"].dtype == "int64"
    assert specs["state"].shape == (1, 3)
    session = ort.InferenceSession(str(foreign.stateful_onnx), providers=["CPUExecutionProvider"])
    state, step = np.zeros((1, 3), np.float32), np.int64(0)
    bare_state, bare_step = state, np.asarray(0, dtype=np.int64)
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.normal(size=(4, 3)).astype(np.float32)
        out = model.run({"x": x, "step": step, "state": state})
        y, bare_state_next, bare_step_next = session.run(None, {"x": x, "step": bare_step, "state": bare_state})
        np.testing.assert_array_equal(out["y"], y)
        np.testing.assert_array_equal(out["next_state"], bare_state_next)
        state, step = out["next_state"], out["next_step"]
        bare_state, bare_step = bare_state_next, bare_step_next
    assert int(step) == 3
    # A Python int and a float32 array with integral values are safe for the int64 scalar.
    model.run({"x": x, "step": 7, "state": state})
    model.run({"x": x, "step": np.float32(7.0), "state": state})


def test_multi_signature_file_runs_the_signature_asked_for(foreign):
    default = load(foreign.multi_signature)
    assert set(default.signatures) == {"add", "scale"}
    scale = load(foreign.multi_signature, signature="scale")
    add = load(foreign.multi_signature, signature="add")
    assert [s.name for s in scale.inputs] == ["v"] and [s.name for s in add.inputs] == ["x"]
    np.testing.assert_array_equal(scale.run({"v": np.ones((2, 3), np.float32)})["tripled"], np.full((2, 3), 3.0))
    np.testing.assert_array_equal(add.run({"x": np.ones((4, 2), np.float32)})["plus_one"], np.full((4, 2), 2.0))
    with pytest.raises(ConfigError, match="no signature 'nope'"):
        load(foreign.multi_signature, signature="nope")


@pytest.mark.parametrize(
    "feeds, message",
    [
        ({"stpe": 1}, r"unknown input 'stpe' \(did you mean 'step'\?\)"),
        ({"x": np.zeros((2, 3), np.float32), "step": 1}, r"missing input\(s\) \['state'\]"),
        ({"x": np.zeros((2, 4), np.float32), "step": 1, "state": np.zeros((1, 3))}, r"dimension 1 must be 3"),
        ({"x": np.zeros((2, 3, 1), np.float32), "step": 1, "state": np.zeros((1, 3))}, r"has rank 2"),
        ({"x": np.zeros((2, 3)), "step": np.float64(np.nan), "state": np.zeros((1, 3))}, r"NaN or infinity"),
        ({"x": np.zeros((2, 3)), "step": 1.5, "state": np.zeros((1, 3))}, r"fractional"),
        ({"x": np.array([["a", "b", "c"]]), "step": 1, "state": np.zeros((1, 3))}, r"takes float32; got strings"),
        ({"x": [[1, 2], [3]], "step": 1, "state": np.zeros((1, 3))}, r"cannot make an array|not a regular"),
    ],
)
def test_bad_feeds_are_schema_errors_naming_the_input(foreign, feeds, message):
    model = load(foreign.stateful_onnx)
    with pytest.raises(SchemaError, match=message):
        model.run(feeds)


def test_int8_input_refuses_nan_but_saturates_out_of_range_floats(foreign):
    model = load(foreign.cnn_int8)
    name = model.inputs[0].name
    x = np.full((1, 8, 8, 1), 1e9, np.float32)
    model.run({name: x})  # clipped to 255, like the bare caller's clip
    with pytest.raises(SchemaError, match="NaN"):
        model.run({name: np.full((1, 8, 8, 1), np.nan, np.float32)})
    with pytest.raises(SchemaError, match="outside"):
        model.run({name: np.full((1, 8, 8, 1), 300, np.int64)})


def test_the_tabular_model_exposes_the_same_tensor_layer(mpg_nn):
    model = load(mpg_nn.export("tflite-fp32"))
    (spec,) = model.inputs
    x = np.zeros((3, spec.shape[1]), np.float32)
    y = model.run({spec.name: x})[model.outputs[0].name]
    np.testing.assert_allclose(y.reshape(-1), model.predict_array(x), rtol=0, atol=0)


def test_a_tensor_name_that_is_not_utf8_is_a_model_load_error(foreign, tmp_path):
    from edgekit.runtime import ModelLoadError

    content = bytearray(foreign.two_io.read_bytes())
    position = bytes(content).find(b"StatefulPartitionedCall")  # an output tensor's name
    assert position > 0
    content[position] = 0xEC  # not a UTF-8 start byte followed by a continuation
    path = tmp_path / "bad_name.tflite"
    path.write_bytes(bytes(content))
    with pytest.raises(ModelLoadError, match="cannot describe the model's tensors"):
        load(path, verify=False)
