"""TensorFlow Serving's REST predict API with a plain httpx client, against a real server."""

from __future__ import annotations

import httpx
import numpy as np
import pytest


def predict(server, body, **kwargs) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/models/{server.name}:predict", json=body, timeout=30, **kwargs)


def test_row_format_regression_matches_source_model(mpg, mpg_server):
    response = predict(mpg_server, {"instances": mpg.rows(slice(None))})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert all(isinstance(p, list) and len(p) == 1 for p in predictions)  # output shape [n, 1]
    np.testing.assert_allclose([p[0] for p in predictions], mpg.expected, rtol=1e-5, atol=1e-4)


def test_columnar_format_regression_matches_source_model(mpg, mpg_server):
    inputs = {name: mpg.column(name) for name in mpg.names}
    response = predict(mpg_server, {"signature_name": "serving_default", "inputs": inputs})
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]  # a single output: the bare list
    np.testing.assert_allclose([o[0] for o in outputs], mpg.expected, rtol=1e-5, atol=1e-4)


def test_row_format_classification_gives_named_outputs_per_row(iris, iris_server):
    response = predict(iris_server, {"instances": iris.rows(slice(None))})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["label"] for p in predictions] == iris.expected_labels()
    np.testing.assert_allclose([p["probabilities"] for p in predictions], iris.expected, rtol=1e-5, atol=1e-6)


def test_columnar_format_classification_gives_outputs_by_name(iris, iris_server):
    response = predict(iris_server, {"inputs": {n: [[v] for v in iris.column(n)] for n in iris.names}})  # [n, 1] each
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert outputs["label"] == iris.expected_labels()
    np.testing.assert_allclose(outputs["probabilities"], iris.expected, rtol=1e-5, atol=1e-6)


def test_rows_as_lists_in_schema_order_and_versioned_path(mpg, mpg_server):
    rows = [[row[n] for n in mpg.names] for row in mpg.rows(slice(0, 6))]
    response = httpx.post(f"{mpg_server.url}/v1/models/{mpg_server.name}/versions/1:predict", json={"instances": rows})
    assert response.status_code == 200, response.text
    np.testing.assert_allclose([p[0] for p in response.json()["predictions"]], mpg.expected[:6], rtol=1e-5, atol=1e-4)


def test_text_feature_and_text_labels(origin_text, origin_server, mpg_price_text, mpg_text_server):
    response = predict(origin_server, {"instances": origin_text.rows(slice(0, 10))})
    assert [p["label"] for p in response.json()["predictions"]] == origin_text.expected_labels()[:10]
    response = predict(mpg_text_server, {"instances": mpg_price_text.rows(slice(0, 10))})
    assert response.status_code == 200, response.text
    assert isinstance(mpg_price_text.rows(slice(0, 1))[0]["origin"], str)
    np.testing.assert_allclose([p[0] for p in response.json()["predictions"]], mpg_price_text.expected[:10],
                               rtol=1e-5, atol=1e-4)


def test_model_status_and_metadata(mpg, mpg_server):
    status = httpx.get(f"{mpg_server.url}/v1/models/{mpg_server.name}").json()
    assert status == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    metadata = httpx.get(f"{mpg_server.url}/v1/models/{mpg_server.name}/metadata").json()
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert list(signature["inputs"]) == mpg.names
    assert list(signature["outputs"]) == ["prediction"]
    assert httpx.get(f"{mpg_server.url}/v1/models/other").status_code == 404


@pytest.mark.parametrize("body, fragment", [
    ({"instances": [{"cylinders": 8}]}, "missing feature"),
    ({"instances": []}, "at least 1 item"),
    ({"instances": [[1, 2, 3]]}, "list of 7 values"),
    ({"inputs": {"cylinders": [8]}, "instances": [{}]}, "exactly one of"),
    ({"signature_name": "classify", "instances": [{}]}, "unknown signature_name"),
    ({"instances": [{"cylinders": [8, 4]}]}, "takes one value"),
    ({"inputs": {"weight": ["heavy"]}}, "missing feature"),
])
def test_bad_tfserving_requests_get_400_with_error(mpg_server, body, fragment):
    response = predict(mpg_server, body)
    assert response.status_code == 400
    assert fragment in response.json()["error"]
