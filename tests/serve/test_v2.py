"""Open Inference Protocol (KServe V2) through Triton's own client, against a real server."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_tritonclient_regression_matches_source_model(mpg, mpg_server, make_triton_client, make_triton_inputs, binary):
    client = make_triton_client(mpg_server)
    outputs = None if binary else [httpclient.InferRequestedOutput("prediction", binary_data=False)]
    result = client.infer(mpg_server.name, make_triton_inputs(mpg, mpg.frame, binary=binary), outputs=outputs)
    prediction = result.as_numpy("prediction")
    assert prediction.shape == (len(mpg.frame), 1)
    assert prediction.dtype == np.float32
    np.testing.assert_allclose(prediction[:, 0], mpg.expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_tritonclient_classification_matches_source_model(iris, iris_server, make_triton_client, make_triton_inputs,
                                                          binary):
    client = make_triton_client(iris_server)
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("label", "probabilities")]
    result = client.infer(iris_server.name, make_triton_inputs(iris, iris.frame, binary=binary), outputs=outputs)
    labels, probabilities = result.as_numpy("label"), result.as_numpy("probabilities")
    assert labels.dtype == np.int64  # iris labels are the integers 0, 1, 2
    assert labels.tolist() == iris.expected_labels()
    assert probabilities.shape == (len(iris.frame), 3)
    np.testing.assert_allclose(probabilities, iris.expected, rtol=1e-5, atol=1e-6)


def test_tritonclient_text_labels_come_back_as_bytes(origin_text, origin_server, make_triton_client, make_triton_inputs):
    client = make_triton_client(origin_server)
    result = client.infer(origin_server.name, make_triton_inputs(origin_text, origin_text.frame))
    labels = [v.decode() for v in result.as_numpy("label").reshape(-1)]
    assert labels == origin_text.expected_labels()
    assert set(labels) <= {"usa", "europe", "japan"}
    np.testing.assert_allclose(result.as_numpy("probabilities"), origin_text.expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_tritonclient_text_feature_as_bytes_input(mpg_price_text, mpg_text_server, make_triton_client,
                                                  make_triton_inputs, binary):
    assert mpg_price_text.schema["origin"].is_string
    client = make_triton_client(mpg_text_server)
    metadata = client.get_model_metadata(mpg_text_server.name)
    assert {i["name"]: i["datatype"] for i in metadata["inputs"]}["origin"] == "BYTES"
    result = client.infer(mpg_text_server.name, make_triton_inputs(mpg_price_text, mpg_price_text.frame, binary=binary))
    np.testing.assert_allclose(result.as_numpy("prediction")[:, 0], mpg_price_text.expected, rtol=1e-5, atol=1e-4)


def test_single_2d_input_in_schema_order_matches_source_model(mpg, mpg_server, make_triton_client):
    x = mpg.frame[mpg.names].to_numpy(dtype=np.float32)
    tensor = httpclient.InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    result = make_triton_client(mpg_server).infer(mpg_server.name, [tensor])
    np.testing.assert_allclose(result.as_numpy("prediction")[:, 0], mpg.expected, rtol=1e-5, atol=1e-4)

    # the same as plain JSON, nested rows, with another input name
    body = {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x[:5].tolist()}]}
    body["inputs"][0]["shape"] = [5, x.shape[1]]
    response = httpx.post(f"{mpg_server.url}/v2/models/{mpg_server.name}/infer", json=body)
    assert response.status_code == 200, response.text
    out = response.json()["outputs"][0]
    assert out["name"] == "prediction" and out["shape"] == [5, 1] and out["datatype"] == "FP32"
    np.testing.assert_allclose(out["data"], mpg.expected[:5], rtol=1e-5, atol=1e-4)


def test_request_outputs_selection_id_and_version_path(iris, iris_server):
    rows = iris.frame.iloc[:4]
    body = {
        "id": "req-42",
        "parameters": {"custom": "ignored"},
        "inputs": [{"name": n, "shape": [4, 1], "datatype": "FP64", "data": rows[n].tolist()} for n in iris.names],
        "outputs": [{"name": "label"}],
    }
    response = httpx.post(f"{iris_server.url}/v2/models/{iris_server.name}/versions/1/infer", json=body)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["id"] == "req-42"
    assert doc["model_name"] == iris_server.name and doc["model_version"] == "1"
    assert [o["name"] for o in doc["outputs"]] == ["label"]
    assert doc["outputs"][0]["data"] == iris.expected_labels()[:4]
    assert doc["outputs"][0]["datatype"] == "INT64"


def test_health_metadata_and_statistics_through_tritonclient(mpg, mpg_server, make_triton_client):
    client = make_triton_client(mpg_server)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(mpg_server.name)
    assert not client.is_model_ready("no-such-model")
    server = client.get_server_metadata()
    assert server["name"] == "edgekit" and "binary_tensor_data" in server["extensions"]
    metadata = client.get_model_metadata(mpg_server.name)
    assert [i["name"] for i in metadata["inputs"]] == mpg.names
    assert all(i["datatype"] == "FP32" and i["shape"] == [-1, 1] for i in metadata["inputs"])
    assert metadata["outputs"] == [{"name": "prediction", "datatype": "FP32", "shape": [-1, 1]}]
    stats = client.get_inference_statistics(mpg_server.name)["model_stats"][0]
    assert stats["name"] == mpg_server.name and stats["inference_count"] >= stats["execution_count"] >= 0
    with pytest.raises(InferenceServerException, match="unknown model"):
        client.get_model_metadata("no-such-model")


def test_tritonclient_sees_schema_errors_as_exceptions(mpg, mpg_server, make_triton_client, make_triton_inputs):
    client = make_triton_client(mpg_server)
    inputs = make_triton_inputs(mpg, mpg.frame.iloc[:2])
    typo = httpclient.InferInput("cylindres", [2, 1], "FP32")
    typo.set_data_from_numpy(np.ones((2, 1), np.float32))
    with pytest.raises(InferenceServerException, match="did you mean 'cylinders'"):
        client.infer(mpg_server.name, [typo] + inputs[1:])
    # and the server still answers
    assert client.infer(mpg_server.name, inputs).as_numpy("prediction").shape == (2, 1)
