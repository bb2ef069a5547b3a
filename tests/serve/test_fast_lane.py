"""The fast lane answers the inference routes byte for byte as the FastAPI routes do.

Two servers over loopback on the same bundle, one with ``create_app(fast_lane=False)``
(every request through FastAPI's router, the reference) and one with the lane; every
request (good V2 and TF Serving ones, every bad V2 case of test_errors, unknown model and
version, wrong method, bodies over the limit with and without Content-Length) must get
the same status, content type and body from both.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import httpx
import pytest

from edgekit.serve import create_app, load_predictor, serve_in_thread
from edgekit.serve.fast_lane import FastLane

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bad-request cases of test_errors.py
from test_errors import SMALL_LIMIT, bad_v2_cases, infer_body  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(mpg):
    predictor = load_predictor(mpg.path)
    with serve_in_thread(create_app(predictor, max_body_bytes=SMALL_LIMIT, fast_lane=False)) as reference, \
            serve_in_thread(create_app(load_predictor(mpg.path), max_body_bytes=SMALL_LIMIT)) as lane:
        yield reference, lane


_client = httpx.Client(timeout=30)  # keep-alive: both servers also see reused connections


def _same(servers, method: str, path: str, content=b"", headers=None) -> httpx.Response:
    answers = []
    for server in servers:
        body = content() if callable(content) else content
        answers.append(_client.request(method, server.url + path.format(name=server.name), content=body,
                                       headers=headers or {}))
    reference, lane = answers
    assert (lane.status_code, lane.headers.get("content-type"), lane.content) == \
        (reference.status_code, reference.headers.get("content-type"), reference.content), path
    assert lane.headers.get("content-length") == reference.headers.get("content-length")
    return lane


def test_good_requests_get_identical_answers(mpg, servers):
    rows = mpg.rows(slice(0, 3))
    v2 = json.dumps({"id": "r-1", "inputs": [
        {"name": f, "shape": [3, 1], "datatype": "FP32", "data": [r[f] if r[f] is not None else 0.0 for r in rows]}
        for f in mpg.names]}).encode()
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/1/infer"):
        assert _same(servers, "POST", path, v2).status_code == 200
    compressed = _same(servers, "POST", "/v2/models/{name}/infer", gzip.compress(v2), {"Content-Encoding": "gzip"})
    assert compressed.status_code == 200
    tfs = json.dumps({"instances": rows}).encode()
    for path in ("/v1/models/{name}:predict", "/v1/models/{name}/versions/1:predict"):
        assert _same(servers, "POST", path, tfs).status_code == 200


def test_every_bad_v2_request_gets_the_identical_error(mpg, servers):
    for name, (body, headers, status, _) in bad_v2_cases(mpg).items():
        answer = _same(servers, "POST", "/v2/models/{name}/infer", body, {"Content-Type": "application/json", **headers})
        assert answer.status_code == status, name


@pytest.mark.parametrize("method, path", [
    ("POST", "/v2/models/no-such-model/infer"),
    ("POST", "/v2/models/{name}/versions/7/infer"),
    ("POST", "/v1/models/no-such-model:predict"),
    ("POST", "/v1/models/{name}/versions/2:predict"),
    ("GET", "/v2/models/{name}/infer"),
    ("PUT", "/v1/models/{name}:predict"),
    ("POST", "/v2/models/{name}/infer/"),
    ("POST", "/v2/models/a/b/infer"),
])
def test_unknown_models_versions_and_methods_get_identical_errors(mpg, servers, method, path):
    assert _same(servers, method, path, infer_body(mpg)).status_code >= 300  # a trailing slash redirects


def test_oversized_bodies_get_identical_413s(servers):
    big = b'{"inputs": [' + b" " * (SMALL_LIMIT + 10) + b"]}"

    def chunks():  # no Content-Length: refused while it streams in
        yield b'{"inputs": ['
        for _ in range(20):
            yield b" " * 1000

    for path in ("/v2/models/{name}/infer", "/v1/models/{name}:predict"):
        assert _same(servers, "POST", path, big).status_code == 413
        assert _same(servers, "POST", path, chunks).status_code == 413
    bomb = gzip.compress(b'{"inputs": [' + b" " * (SMALL_LIMIT * 50) + b"]}")
    assert _same(servers, "POST", "/v2/models/{name}/infer", bomb, {"Content-Encoding": "gzip"}).status_code == 413


def test_the_lane_sits_inside_the_body_limits_and_only_when_asked(mpg):
    def layers(app):
        stack, seen = app.build_middleware_stack(), []
        while stack is not None:
            seen.append(type(stack).__name__)
            stack = getattr(stack, "app", None)
        return seen

    with_lane = layers(create_app(load_predictor(mpg.path), warm_up=False))
    assert with_lane.index("BodySizeLimit") + 1 == with_lane.index("FastLane")
    assert "FastLane" not in layers(create_app(load_predictor(mpg.path), warm_up=False, fast_lane=False))
    assert FastLane.__module__ == "edgekit.serve.fast_lane"
