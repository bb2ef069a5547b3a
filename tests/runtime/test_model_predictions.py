"""Model.predict / predict_array against the raw backends, for every export type."""

import warnings

import numpy as np
import pandas as pd
import pytest

from edgekit.runtime import SaturationWarning, SchemaError, load

MPG_EXPORTS = ["tflite-fp32", "tflite-fp16", "tflite-dynamic", "tflite-int8", "onnx-fp32", "onnx-dynamic", "onnx-int8"]


def rows_of(built, n: int) -> pd.DataFrame:
    test = pd.read_csv(built.bundle / "data" / "test.csv")
    return pd.concat([test] * (n // len(test) + 1), ignore_index=True).iloc[:n]


def encode(frame: pd.DataFrame, schema) -> np.ndarray:
    """Independent matrix encoding: raw numbers, string categories -> their index."""
    x = np.empty((len(frame), len(schema)), np.float32)
    for j, f in enumerate(schema):
        if f.is_string:
            x[:, j] = [list(f.categories).index(v) if v in f.categories else -1 for v in frame[f.name]]
        else:
            x[:, j] = frame[f.name].astype(float)
    return x


def raw_tflite(path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(x.shape))
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    if detail["dtype"] == np.int8:
        scale, zero = detail["quantization"]
        x = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
    interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    out = interpreter.get_output_details()[0]
    y = interpreter.get_tensor(out["index"])
    if out["dtype"] == np.int8:
        scale, zero = out["quantization"]
        y = (y.astype(np.float32) - zero) * scale
    return y


def raw_onnx(path, feeds: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("name", MPG_EXPORTS)
@pytest.mark.parametrize("batch", [1, 7, 1024])
def test_keras_exports_match_the_raw_backend(mpg_nn, name, batch):
    path = mpg_nn.export(name)
    model = load(path)
    frame = rows_of(mpg_nn, batch)
    x = encode(frame, model.schema)
    raw = raw_tflite(path, x) if model.format == "tflite" else raw_onnx(path, {"x": x})[0]
    np.testing.assert_allclose(model.predict_array(x), raw.reshape(-1), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(model.predict(frame[model.schema.names]).values, raw.reshape(-1), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 7, 1024])
def test_sklearn_onnx_export_matches_raw_onnxruntime(mpg_svm, batch):
    path = mpg_svm.export("onnx-fp32")
    model = load(path)
    frame = rows_of(mpg_svm, batch)
    feeds = {f.name: frame[[f.name]].to_numpy(np.float32) for f in model.schema}
    raw = raw_onnx(path, feeds)[0].reshape(-1)
    np.testing.assert_allclose(model.predict(frame[model.schema.names]).values, raw, rtol=1e-6)
    np.testing.assert_allclose(model.predict_array(encode(frame, model.schema)), raw, rtol=1e-6)


def test_changing_batch_sizes_back_and_forth_stays_correct(mpg_nn):
    model = load(mpg_nn.export("tflite-fp32"))
    frame = rows_of(mpg_nn, 64)
    x = encode(frame, model.schema)
    full = model.predict_array(x)
    for n in (1, 64, 3, 1, 64):
        np.testing.assert_allclose(model.predict_array(x[:n]), full[:n], rtol=1e-6)


def test_classifier_returns_labels_and_probabilities_like_raw_onnxruntime(iris_linear):
    path = iris_linear.export("onnx-fp32")
    model = load(path)
    frame = rows_of(iris_linear, 30)
    feeds = {f.name: frame[[f.name]].to_numpy(np.float32) for f in model.schema}
    label, proba = raw_onnx(path, feeds)
    prediction = model.predict(frame[model.schema.names])
    np.testing.assert_allclose(prediction.probabilities, proba, rtol=1e-6)
    assert prediction.values.tolist() == [model.labels[i] for i in label.reshape(-1)]
    record = prediction.to_records()[0]
    assert set(record) == {"label", "probabilities"} and abs(sum(record["probabilities"].values()) - 1) < 1e-5
    np.testing.assert_allclose(model.predict_array(encode(frame, model.schema)), proba, rtol=1e-6)


def test_string_features_reach_onnx_as_strings(maker_rf):
    path = maker_rf.export("onnx-fp32")
    model = load(path)
    frame = rows_of(maker_rf, 50)
    feeds = {f.name: (frame[[f.name]].astype(str).to_numpy(object) if f.is_string else frame[[f.name]].to_numpy(np.float32))
             for f in model.schema}
    raw = raw_onnx(path, feeds)[0].reshape(-1)
    np.testing.assert_allclose(model.predict(frame[model.schema.names]).values, raw, rtol=1e-6)
    with pytest.raises(SchemaError, match="string features"):
        model.predict_array(np.zeros((1, len(model.schema)), np.float32))


@pytest.mark.parametrize("name", ["tflite-fp32", "tflite-int8"])
def test_string_features_reach_tflite_as_category_indices(maker_nn, name):
    path = maker_nn.export(name)
    model = load(path)
    frame = rows_of(maker_nn, 50)
    frame.loc[0, "maker"] = "a-maker-never-seen"
    raw = raw_tflite(path, encode(frame, model.schema)).reshape(-1)
    np.testing.assert_allclose(model.predict(frame[model.schema.names]).values, raw, rtol=1e-6)


def test_predict_array_checks_dtype_and_shape(mpg_nn):
    model = load(mpg_nn.export("tflite-fp32"))
    with pytest.raises(SchemaError, match=r"float32 \[n, 7\]"):
        model.predict_array(np.zeros((1, 7), np.float64))
    with pytest.raises(SchemaError):
        model.predict_array(np.zeros((1, 6), np.float32))
    with pytest.raises(SchemaError):
        model.predict_array(np.zeros(7, np.float32))


def test_int8_model_warns_when_inputs_leave_the_calibration_range(mpg_nn):
    model = load(mpg_nn.export("tflite-int8"))
    row = {"cylinders": 4, "displacement": 97, "horsepower": 88, "weight": 2130, "acceleration": 14.5, "model_year": 70, "origin": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict([row])  # in range: no warning
    with pytest.warns(SaturationWarning, match="weight"):
        model.predict([{**row, "weight": 90000}])


def test_schema_errors_surface_through_predict(mpg_nn):
    model = load(mpg_nn.export("onnx-fp32"))
    with pytest.raises(SchemaError, match="did you mean 'weight'"):
        model.predict([{"cylinders": 4, "displacement": 97, "horsepower": 88, "wieght": 2130, "acceleration": 14.5,
                        "model_year": 70, "origin": 3}])
