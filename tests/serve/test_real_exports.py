"""`edgekit serve --export` with real `edgekit convert` output, over real HTTP."""

import httpx
import numpy as np
import pandas as pd
import pytest

from edgekit.runtime import load
from edgekit.serve import create_app, load_predictor, serve_in_thread


@pytest.mark.parametrize("name", ["tflite-fp32", "tflite-int8", "onnx-fp32", "onnx-int8"])
def test_serving_an_export_answers_like_the_runtime(mpg_nn, name):
    path = mpg_nn.export(name)
    test = pd.read_csv(mpg_nn.bundle / "data" / "test.csv").drop(columns=["mpg"]).iloc[:20]
    expected = load(path).predict(test).values
    app = create_app(load_predictor(mpg_nn.bundle, export=path, name="mpg"))
    with serve_in_thread(app) as server:
        rows = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in test.to_dict("records")]
        answer = httpx.post(f"{server.url}/v1/models/mpg:predict", json={"instances": rows}, timeout=30).json()
        inputs = [{"name": c, "shape": [len(test), 1], "datatype": "FP32",
                   "data": [None if pd.isna(v) else float(v) for v in test[c]]} for c in test.columns]
        v2 = httpx.post(f"{server.url}/v2/models/mpg/infer", json={"inputs": inputs}, timeout=30).json()
    np.testing.assert_allclose(np.ravel(answer["predictions"]), expected, rtol=1e-5)
    np.testing.assert_allclose(np.ravel(v2["outputs"][0]["data"]), expected, rtol=1e-5)


def test_serving_a_string_feature_export(maker_rf):
    path = maker_rf.export("onnx-fp32")
    test = pd.read_csv(maker_rf.bundle / "data" / "test.csv").drop(columns=["mpg"]).iloc[:10]
    expected = load(path).predict(test).values
    with serve_in_thread(create_app(load_predictor(maker_rf.bundle, export=path, name="m"))) as server:
        rows = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in test.to_dict("records")]
        answer = httpx.post(f"{server.url}/v1/models/m:predict", json={"instances": rows}, timeout=30).json()
    np.testing.assert_allclose(np.ravel(answer["predictions"]), expected, rtol=1e-5)
