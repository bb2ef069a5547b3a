"""Bad requests get the right 4xx and a JSON error, and never break the server."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

SMALL_LIMIT = 4096


def feature_inputs(served, n: int = 2, **overrides) -> list[dict]:
    rows = served.frame.iloc[:n]
    inputs = [{"name": f, "shape": [n, 1], "datatype": "FP32", "data": [float(v) for v in rows[f].fillna(0)]}
              for f in served.names]
    for name, changes in overrides.items():
        next(i for i in inputs if i["name"] == name).update(changes)
    return inputs


def infer_body(served, **overrides) -> bytes:
    return json.dumps({"inputs": feature_inputs(served, **overrides)}).encode()


def assert_still_serving(server, served) -> None:
    response = httpx.post(f"{server.url}/v2/models/{server.name}/infer", content=infer_body(served))
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["outputs"][0]["data"], served.expected[:2], rtol=1e-5, atol=1e-4)


def bad_v2_cases(served) -> dict[str, tuple]:
    """name -> (body bytes, extra headers, expected status, fragment of the error)."""
    first = served.names[0]
    ok = feature_inputs(served)
    cases = [
        ("malformed-json", b'{"inputs": [', {}, 400, "malformed JSON"),
        ("not-json", b"\x00\xff binary junk", {}, 400, "malformed JSON"),
        ("empty-body", b"", {}, 400, "malformed JSON"),
        ("json-array", b"[1, 2]", {}, 400, "object"),
        ("no-inputs", b'{"inputs": []}', {}, 400, "inputs"),
        ("unknown-feature", json.dumps({"inputs": [{**ok[0], "name": first[:-1] + "x"}] + ok[1:]}).encode(), {}, 400,
         "did you mean"),
        ("missing-feature", json.dumps({"inputs": ok[1:]}).encode(), {}, 400, "missing feature"),
        ("duplicate-feature", json.dumps({"inputs": ok + ok[:1]}).encode(), {}, 400, "given twice"),
        ("wrong-shape", infer_body(served, **{first: {"shape": [1, 2]}}), {}, 400, "a feature takes [n] or [n, 1]"),
        ("wrong-2d-width", json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32",
                                                   "data": [1, 2, 3]}]}).encode(), {}, 400, "the 2-D form takes"),
        ("shape-data-mismatch", infer_body(served, **{first: {"data": [1.0, 2.0, 3.0]}}), {}, 400, "needs 2 values"),
        ("ragged-rows", infer_body(served, **{first: {"shape": [2, 1]}, served.names[1]: {"shape": [3, 1],
                                              "data": [1.0, 2.0, 3.0]}}), {}, 400, "different lengths"),
        ("bytes-for-numeric", infer_body(served, **{first: {"datatype": "BYTES", "data": ["8", "4"]}}), {}, 400,
         "is numeric"),
        ("strings-in-fp32", infer_body(served, **{first: {"data": ["a", "b"]}}), {}, 400, "holds strings"),
        ("bools-in-fp32", infer_body(served, **{first: {"data": [True, False]}}), {}, 400, "true/false"),
        ("objects-in-fp32", infer_body(served, **{first: {"data": [{"a": 1}, 2]}}), {}, 400, "element 0"),
        ("unknown-datatype", infer_body(served, **{first: {"datatype": "FP33"}}), {}, 400, "datatype"),
        ("negative-shape", infer_body(served, **{first: {"shape": [-2, 1]}}), {}, 400, "shape"),
        ("no-rows", json.dumps({"inputs": [{**i, "shape": [0, 1], "data": []} for i in ok]}).encode(), {}, 400,
         "no rows"),
        ("infinity", infer_body(served, **{first: {"data": [1.0, float("inf")]}}), {}, 400, "infinite"),
        ("unknown-output", json.dumps({"inputs": ok, "outputs": [{"name": "label"}]}).encode(), {}, 400,
         "unknown output"),
        ("binary-header-too-long", infer_body(served), {"Inference-Header-Content-Length": "999999"}, 400,
         "Inference-Header-Content-Length"),
        ("binary-header-not-a-number", infer_body(served), {"Inference-Header-Content-Length": "ten"}, 400,
         "Inference-Header-Content-Length"),
        ("binary-size-past-end", infer_body(served, **{first: {"data": None, "parameters": {"binary_data_size": 8}}}),
         {}, 400, "binary"),
        ("shared-memory", infer_body(served, **{first: {"parameters": {"shared_memory_region": "r"}}}), {}, 400,
         "shared memory"),
        ("unsupported-encoding", infer_body(served), {"Content-Encoding": "br"}, 415, "Content-Encoding"),
        ("bad-gzip", b"\x1f\x8b not gzip", {"Content-Encoding": "gzip"}, 400, "gzip"),
    ]
    return {name: rest for name, *rest in cases}


BAD_V2 = [
    "malformed-json", "not-json", "empty-body", "json-array", "no-inputs", "unknown-feature", "missing-feature",
    "duplicate-feature", "wrong-shape", "wrong-2d-width", "shape-data-mismatch", "ragged-rows", "bytes-for-numeric",
    "strings-in-fp32", "bools-in-fp32", "objects-in-fp32", "unknown-datatype", "negative-shape", "no-rows",
    "infinity", "unknown-output", "binary-header-too-long", "binary-header-not-a-number", "binary-size-past-end",
    "shared-memory", "unsupported-encoding", "bad-gzip",
]


@pytest.mark.parametrize("name", BAD_V2)
def test_bad_v2_request_gets_4xx_json_error_and_server_keeps_serving(mpg, mpg_server, name):
    body, headers, status, fragment = bad_v2_cases(mpg)[name]
    response = httpx.post(f"{mpg_server.url}/v2/models/{mpg_server.name}/infer", content=body,
                          headers={"Content-Type": "application/json", **headers})
    assert response.status_code == status, f"{name}: {response.text}"
    assert response.headers["content-type"].startswith("application/json"), name
    error = response.json()["error"]
    assert fragment in error, f"{name}: {error}"
    assert "Traceback" not in response.text
    assert_still_serving(mpg_server, mpg)


def test_every_bad_case_is_parametrized(mpg):
    assert sorted(bad_v2_cases(mpg)) == sorted(BAD_V2)


@pytest.mark.parametrize("method, path, status", [
    ("POST", "/v2/models/no-such-model/infer", 404),
    ("POST", "/v2/models/{name}/versions/7/infer", 404),
    ("GET", "/v2/models/no-such-model", 404),
    ("GET", "/v2/models/no-such-model/ready", 404),
    ("POST", "/v1/models/no-such-model:predict", 404),
    ("GET", "/v1/models/{name}/versions/2", 404),
    ("GET", "/no/such/route", 404),
    ("GET", "/v2/models/{name}/infer", 405),
])
def test_unknown_model_version_or_route_gets_json_404(mpg, mpg_server, method, path, status):
    url = mpg_server.url + path.format(name=mpg_server.name)
    response = httpx.request(method, url, content=infer_body(mpg))
    assert response.status_code == status
    assert response.json()["error"]
    assert_still_serving(mpg_server, mpg)


@pytest.fixture(scope="module")
def small_limit_server(mpg):
    from edgekit.serve import create_app, load_predictor, serve_in_thread

    with serve_in_thread(create_app(load_predictor(mpg.path), max_body_bytes=SMALL_LIMIT)) as server:
        yield server


def test_body_over_the_limit_gets_413_with_content_length(mpg, small_limit_server):
    body = b'{"inputs": [' + b" " * (SMALL_LIMIT + 10) + b"]}"
    response = httpx.post(f"{small_limit_server.url}/v2/models/{small_limit_server.name}/infer", content=body)
    assert response.status_code == 413
    assert "limit" in response.json()["error"]
    assert_still_serving(small_limit_server, mpg)


def test_chunked_body_over_the_limit_gets_413(mpg, small_limit_server):
    def chunks():  # no Content-Length: httpx sends Transfer-Encoding: chunked
        yield b'{"inputs": ['
        for _ in range(20):
            yield b" " * 1000

    for path in (f"/v2/models/{small_limit_server.name}/infer", f"/v1/models/{small_limit_server.name}:predict"):
        response = httpx.post(small_limit_server.url + path, content=chunks())
        assert response.status_code == 413, response.text
        assert "limit" in response.json()["error"]
    assert_still_serving(small_limit_server, mpg)


def test_gzip_body_inflating_past_the_limit_gets_413(mpg, small_limit_server):
    bomb = gzip.compress(b'{"inputs": [' + b" " * (SMALL_LIMIT * 50) + b"]}")
    assert len(bomb) < SMALL_LIMIT
    response = httpx.post(f"{small_limit_server.url}/v2/models/{small_limit_server.name}/infer", content=bomb,
                          headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    # a small gzip body is fine (Triton clients can compress requests)
    response = httpx.post(f"{small_limit_server.url}/v2/models/{small_limit_server.name}/infer",
                          content=gzip.compress(infer_body(mpg)), headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text


def test_default_limit_refuses_17_mib(mpg, mpg_server):
    body = b'{"inputs": [' + b" " * (17 << 20) + b"]}"
    response = httpx.post(f"{mpg_server.url}/v2/models/{mpg_server.name}/infer", content=body, timeout=60)
    assert response.status_code == 413
    assert "16777216-byte limit" in response.json()["error"]
    assert_still_serving(mpg_server, mpg)


def test_openapi_document_is_valid_and_declares_the_protocol_models(mpg_server):
    doc = httpx.get(f"{mpg_server.url}/openapi.json").json()
    schemas = doc["components"]["schemas"]
    for model in ("InferenceRequest", "RequestInput", "InferenceResponse", "ErrorResponse", "PredictRequest",
                  "PredictResponse", "ModelMetadata", "StatisticsResponse"):
        assert model in schemas, model
    infer = doc["paths"]["/v2/models/{model_name}/infer"]["post"]
    assert infer["requestBody"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/InferenceRequest"
    assert {"200", "400", "404", "413"} <= set(infer["responses"])
    assert "422" not in json.dumps(doc["paths"])  # validation errors are 400 with {"error": ...}
    assert "/v1/models/{model_name}:predict" in doc["paths"]
    import schemathesis

    schema = schemathesis.openapi.from_dict(doc)
    operations = [op.ok().label for op in schema.get_all_operations()]
    assert "POST /v2/models/{model_name}/infer" in operations


@pytest.mark.slow
def test_schemathesis_fuzzing_finds_no_server_errors(iris_server, tmp_path):
    """Schema-driven fuzzing: no 5xx, responses match the documented schemas and codes.
    (positive_data_acceptance is excluded: a generic schema cannot say which feature
    names and shapes this model takes, so schema-valid bodies are often rightly 400.)"""
    cli = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    result = subprocess.run(
        [cli, "run", f"{iris_server.url}/openapi.json", "--max-examples", "15", "--seed", "1", "--no-color",
         "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--request-timeout", "30"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,  # it writes a .schemathesis cache there
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
