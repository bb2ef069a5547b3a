"""``edgekit serve MODEL`` for model files edgekit did not make, as their own tensors.

Real servers (uvicorn on loopback) for the ``foreign`` fixture models; every answer is
compared with the bare backend run directly on the same file (ai-edge-litert's
signature runner, an onnxruntime InferenceSession), never with edgekit's own runtime.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from edgekit.serve import create_app, load_predictor, serve_in_subprocess, serve_in_thread
from edgekit.serve.batcher import MicroBatcher
from edgekit.serve.predictors import Outputs

# numpy dtype -> V2 datatype, as the Open Inference Protocol spells them
V2 = {np.dtype("float32"): "FP32", np.dtype("uint8"): "UINT8", np.dtype("int64"): "INT64"}
ORT_V2 = {"tensor(float)": "FP32", "tensor(int64)": "INT64"}


# -- the bare backends ----------------------------------------------------------------------
def litert_runner(path):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path)).get_signature_runner()


def bare_tflite(path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return litert_runner(path)(**feeds)


def bare_onnx(path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def bare_metadata(path) -> tuple[list, list]:
    """(name, V2 datatype, shape with -1 for dynamic) per input and output, from the backend."""
    if str(path).endswith(".onnx"):
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def describe(args):
            return [(a.name, ORT_V2[a.type], [d if isinstance(d, int) else -1 for d in a.shape]) for a in args]

        return describe(session.get_inputs()), describe(session.get_outputs())
    runner = litert_runner(path)

    def describe(details):
        return [(name, V2[np.dtype(d["dtype"])], [int(v) for v in d["shape_signature"]]) for name, d in details.items()]

    return describe(runner.get_input_details()), describe(runner.get_output_details())


# -- servers ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def servers(foreign):
    """One server per model file, started on first use: servers("cnn_fp32")."""
    started: dict[tuple, object] = {}

    def get(model: str, **options):
        key = (model, tuple(sorted(options.items())))
        if key not in started:
            started[key] = serve_in_thread(create_app(load_predictor(getattr(foreign, model)), **options))
        return started[key]

    yield get
    for server in started.values():
        server.stop()


def client(server):
    return httpclient.InferenceServerClient(url=server.url.removeprefix("http://"), network_timeout=60.0)


def triton_input(name: str, array: np.ndarray, datatype: str, binary: bool = True):
    tensor = httpclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def infer_json(server, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}/v2/models/{server.name}/infer", content=json.dumps(body).encode(), timeout=60)


def image_body(x: np.ndarray) -> dict:
    return {"inputs": [{"name": "image", "shape": list(x.shape), "datatype": "FP32", "data": x.reshape(-1).tolist()}]}


# -- metadata -------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["cnn_fp32", "cnn_int8", "two_io", "dynamic", "stateful_onnx"])
def test_metadata_reports_the_backends_tensor_names_datatypes_and_shapes(foreign, servers, model):
    server = servers(model)
    metadata = client(server).get_model_metadata(server.name)
    inputs, outputs = bare_metadata(getattr(foreign, model))
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == inputs
    assert sorted((t["name"], t["datatype"], t["shape"]) for t in metadata["outputs"]) == sorted(outputs)
    assert metadata["platform"] == ("onnxruntime_onnx" if model == "stateful_onnx" else "tflite")
    signature = httpx.get(f"{server.url}/v1/models/{server.name}/metadata").json()
    (tf_inputs,) = [s["inputs"] for s in signature["metadata"]["signature_def"]["signature_def"].values()]
    assert [(name, [int(d["size"]) for d in t["tensor_shape"]["dim"]]) for name, t in tf_inputs.items()] == \
        [(name, shape) for name, _, shape in inputs]


# -- answers equal the bare backend ------------------------------------------------------------
@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_float_cnn_answers_equal_bare_litert_bit_for_bit(foreign, servers, binary):
    server = servers("cnn_fp32")
    x = foreign.digits_x[:16]
    outputs = [httpclient.InferRequestedOutput("output_0", binary_data=binary)]
    result = client(server).infer(server.name, [triton_input("image", x, "FP32", binary)], outputs=outputs)
    scores = result.as_numpy("output_0")
    expected = bare_tflite(foreign.cnn_fp32, {"image": x})["output_0"]
    assert scores.dtype == np.float32 and scores.shape == (16, 10)
    np.testing.assert_array_equal(scores, expected)


def test_int8_cnn_takes_raw_uint8_or_float_and_answers_raw_uint8_like_the_bare_interpreter(foreign, servers):
    server = servers("cnn_int8")
    x = foreign.digits_x[:12]
    detail = litert_runner(foreign.cnn_int8).get_input_details()["image"]
    (scale,), (zero_point,) = detail["quantization_parameters"]["scales"], detail["quantization_parameters"]["zero_points"]
    raw = np.clip(np.round(x / scale + zero_point), 0, 255).astype(np.uint8)
    expected = bare_tflite(foreign.cnn_int8, {"image": raw})["output_0"]
    assert expected.dtype == np.uint8

    from_raw = client(server).infer(server.name, [triton_input("image", raw, "UINT8")]).as_numpy("output_0")
    from_float = client(server).infer(server.name, [triton_input("image", x, "FP32")]).as_numpy("output_0")
    assert from_raw.dtype == np.uint8
    np.testing.assert_array_equal(from_raw, expected)
    np.testing.assert_array_equal(from_float, expected)  # the server quantised the floats as the test did


@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_two_inputs_two_outputs_and_output_selection(foreign, servers, binary):
    server = servers("two_io")
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(5, 3)).astype(np.float32)
    expected = bare_tflite(foreign.two_io, {"a": a, "b": b})
    inputs = [triton_input("a", a, "FP32", binary), triton_input("b", b, "FP32", binary)]
    both = client(server).infer(server.name, inputs)
    for name in ("total", "parts"):
        np.testing.assert_array_equal(both.as_numpy(name), expected[name])

    only = client(server).infer(server.name, inputs, outputs=[httpclient.InferRequestedOutput("total", binary_data=binary)])
    assert [o["name"] for o in only.get_response()["outputs"]] == ["total"]
    np.testing.assert_array_equal(only.as_numpy("total"), expected["total"])


def test_dynamic_sequence_model_takes_any_length(foreign, servers):
    server = servers("dynamic")
    rng = np.random.default_rng(2)
    for shape in [(1, 3, 6), (4, 11, 6), (2, 1, 6)]:
        frames = rng.normal(size=shape).astype(np.float32)
        result = client(server).infer(server.name, [triton_input("frames", frames, "FP32")])
        np.testing.assert_array_equal(result.as_numpy("output_0"), bare_tflite(foreign.dynamic, {"frames": frames})["output_0"])


def test_stateful_onnx_takes_an_int64_scalar_and_its_state_back(foreign, servers):
    server = servers("stateful_onnx")
    rng = np.random.default_rng(3)
    state, step = np.zeros((1, 3), np.float32), np.array(0, np.int64)
    bare_state, bare_step = state, step
    for call in range(3):
        x = rng.normal(size=(call + 1, 3)).astype(np.float32)
        inputs = [triton_input("x", x, "FP32"), triton_input("step", step, "INT64", binary=call % 2 == 0),
                  triton_input("state", state, "FP32")]
        result = client(server).infer(server.name, inputs)
        expected = bare_onnx(foreign.stateful_onnx, {"x": x, "step": bare_step, "state": bare_state})
        for name in ("y", "next_state", "next_step"):
            assert result.as_numpy(name).shape == expected[name].shape
            np.testing.assert_array_equal(result.as_numpy(name), expected[name])
        assert result.as_numpy("next_step").dtype == np.int64
        state, step = result.as_numpy("next_state"), result.as_numpy("next_step")
        bare_state, bare_step = expected["next_state"], expected["next_step"]
    assert int(step) == 3


def test_tfserving_row_and_columnar_formats_match_the_bare_backend(foreign, servers):
    two_io = servers("two_io")
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 3)).astype(np.float32)
    expected = bare_tflite(foreign.two_io, {"a": a, "b": b})
    rows = [{"a": a[i].tolist(), "b": b[i].tolist()} for i in range(3)]
    response = httpx.post(f"{two_io.url}/v1/models/{two_io.name}:predict", json={"instances": rows})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    np.testing.assert_array_equal(np.asarray([p["total"] for p in predictions], np.float32), expected["total"])
    np.testing.assert_array_equal(np.asarray([p["parts"] for p in predictions], np.float32), expected["parts"])

    stateful = servers("stateful_onnx")
    x, state = rng.normal(size=(2, 3)).astype(np.float32), np.ones((1, 3), np.float32)
    body = {"inputs": {"x": x.tolist(), "step": 7, "state": state.tolist()}}
    response = httpx.post(f"{stateful.url}/v1/models/{stateful.name}:predict", json=body)
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    bare = bare_onnx(foreign.stateful_onnx, {"x": x, "step": np.array(7, np.int64), "state": state})
    np.testing.assert_array_equal(np.asarray(outputs["y"], np.float32), bare["y"])
    assert outputs["next_step"] == 8


# -- micro-batching -----------------------------------------------------------------------------
async def fire(server, bodies: list[dict]) -> list[httpx.Response]:
    url = f"{server.url}/v2/models/{server.name}/infer"
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=len(bodies)), timeout=60) as http:
        return await asyncio.gather(*(http.post(url, json=body) for body in bodies))


def batching(server) -> dict:
    return httpx.get(f"{server.url}/v2/models/{server.name}/stats").json()["model_stats"][0]


def test_concurrent_requests_to_a_dynamic_batch_model_are_micro_batched_and_each_gets_its_rows(foreign, servers):
    server = servers("cnn_fp32", max_delay_ms=50)
    slices = [slice(3 * i, 3 * i + 1 + i % 3) for i in range(24)]  # 1 to 3 different images each
    responses = asyncio.run(fire(server, [image_body(foreign.digits_x[s]) for s in slices]))
    for s, response in zip(slices, responses):
        assert response.status_code == 200, response.text
        (out,) = response.json()["outputs"]
        expected = bare_tflite(foreign.cnn_fp32, {"image": foreign.digits_x[s]})["output_0"]
        assert out["shape"] == list(expected.shape)
        # a merged call is another batch size for the kernels: equal up to float rounding
        np.testing.assert_allclose(np.asarray(out["data"], np.float32).reshape(expected.shape), expected,
                                   rtol=1e-6, atol=1e-7)
    stats = batching(server)
    summary = stats["batching"]
    assert summary["enabled"] and summary["requests"] == 24
    assert summary["rows"] == sum(s.stop - s.start for s in slices) == stats["inference_count"]
    assert summary["max_requests_per_batch"] > 1 and summary["batches"] < 24
    assert stats["execution_count"] == summary["batches"]


def test_requests_whose_non_batch_dims_differ_are_never_merged(foreign, servers):
    server = servers("dynamic", max_delay_ms=50)
    rng = np.random.default_rng(5)
    frames = [rng.normal(size=(1 + i % 2, 3 if i % 2 else 8, 6)).astype(np.float32) for i in range(16)]
    bodies = [{"inputs": [{"name": "frames", "shape": list(f.shape), "datatype": "FP32", "data": f.reshape(-1).tolist()}]}
              for f in frames]
    responses = asyncio.run(fire(server, bodies))
    for f, response in zip(frames, responses):
        assert response.status_code == 200, response.text
        expected = bare_tflite(foreign.dynamic, {"frames": f})["output_0"]
        np.testing.assert_allclose(np.asarray(response.json()["outputs"][0]["data"], np.float32).reshape(expected.shape),
                                   expected, rtol=1e-6, atol=1e-7)
    summary = batching(server)["batching"]
    assert summary["requests"] == 16 and summary["rows"] == sum(f.shape[0] for f in frames)
    # interleaved lengths still batch: each length with its own kind (mixed ones could not be concatenated)
    assert summary["max_requests_per_batch"] > 1 and summary["batches"] >= 2


def test_the_batcher_merges_only_requests_with_equal_keys_in_arrival_order():
    calls = []

    def record(columns):
        calls.append(columns["a"].tolist())
        return Outputs(prediction=columns["a"] * 10)

    batcher = MicroBatcher(record, max_batch_size=64, max_delay_ms=50)

    async def scenario():
        jobs = [batcher.submit({"a": np.asarray([float(i)])}, 1, key=i % 2) for i in range(6)]
        try:
            return await asyncio.gather(*jobs)
        finally:
            await batcher.close()
            batcher.shutdown_executor()

    results = asyncio.run(scenario())
    assert [r.prediction.tolist() for r in results] == [[10.0 * i] for i in range(6)]
    assert calls == [[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]]


def test_a_model_without_a_batch_dimension_runs_one_request_at_a_time(foreign, servers):
    server = servers("stateful_onnx", max_delay_ms=50)
    before = batching(server)["batching"]
    body = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
                       {"name": "step", "shape": [], "datatype": "INT64", "data": [0]},
                       {"name": "state", "shape": [1, 3], "datatype": "FP32", "data": [0, 0, 0]}]}
    responses = asyncio.run(fire(server, [body] * 8))
    assert all(r.status_code == 200 for r in responses)
    after = batching(server)["batching"]
    assert not after["enabled"]
    assert after["requests"] - before["requests"] == 8 and after["batches"] - before["batches"] == 8
    assert after["max_requests_per_batch"] == 1


# -- bad requests ------------------------------------------------------------------------------
def _tensor(name, shape, datatype, data):
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


ZEROS = [0.0] * 64
BAD_REQUESTS = {
    "unknown-input": ("cnn_fp32", [_tensor("imgae", [1, 8, 8, 1], "FP32", ZEROS)], "did you mean 'image'"),
    "missing-input": ("two_io", [_tensor("a", [1, 4], "FP32", [0, 0, 0, 0])], "missing input(s) ['b']"),
    "wrong-fixed-dim": ("cnn_fp32", [_tensor("image", [1, 8, 4, 2], "FP32", ZEROS)], "dimension 2 must be 8"),
    "wrong-rank": ("cnn_fp32", [_tensor("image", [8, 8], "FP32", ZEROS)], "has rank 4"),
    "text-for-floats": ("cnn_fp32", [_tensor("image", [1, 8, 8, 1], "BYTES", ["x"] * 64)], "takes float32"),
    "fraction-for-int64": ("stateful_onnx", [_tensor("x", [1, 3], "FP32", [1, 2, 3]), _tensor("step", [], "FP32", [1.5]),
                                             _tensor("state", [1, 3], "FP32", [0, 0, 0])], "fractional"),
    "uint8-out-of-range": ("cnn_int8", [_tensor("image", [1, 8, 8, 1], "UINT8", [300] * 64)], "outside [0, 255]"),
    "batch-rows-differ": ("two_io", [_tensor("a", [2, 4], "FP32", [0] * 8), _tensor("b", [3, 3], "FP32", [0] * 9)],
                          "share the batch dimension"),
    "too-few-values": ("cnn_fp32", [_tensor("image", [2, 8, 8, 1], "FP32", ZEROS)], "needs 128 values"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_get_400_with_a_readable_message_and_the_server_keeps_serving(foreign, servers, case):
    model, inputs, fragment = BAD_REQUESTS[case]
    server = servers(model)
    response = infer_json(server, {"inputs": inputs})
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]
    ok = infer_json(server, image_body(foreign.digits_x[:1])) if model.startswith("cnn") else None
    assert ok is None or ok.status_code == 200


def test_other_bad_requests_and_tritonclient_sees_them_as_exceptions(foreign, servers):
    cnn = servers("cnn_fp32")
    response = infer_json(cnn, {**image_body(foreign.digits_x[:1]), "outputs": [{"name": "scores"}]})
    assert response.status_code == 400 and "unknown output 'scores'" in response.json()["error"]
    stateful = servers("stateful_onnx")
    response = httpx.post(f"{stateful.url}/v1/models/{stateful.name}:predict", json={"instances": [[1, 2, 3]]})
    assert response.status_code == 400 and "no batch dimension" in response.json()["error"]
    with pytest.raises(InferenceServerException, match="did you mean 'image'"):
        client(cnn).infer(cnn.name, [triton_input("imag", foreign.digits_x[:1], "FP32")])
    assert client(cnn).infer(cnn.name, [triton_input("image", foreign.digits_x[:1], "FP32")]).as_numpy("output_0").shape == (1, 10)


def test_a_prediction_log_is_refused_for_tensor_models(foreign):
    from edgekit.runtime.errors import ConfigError

    with pytest.raises(ConfigError, match="served as plain tensors"):
        create_app(load_predictor(foreign.cnn_fp32), log="predictions.db")


# -- the command --------------------------------------------------------------------------------
@pytest.mark.slow
def test_edgekit_serve_model_file_starts_reports_ready_and_answers_like_the_bare_backend(foreign):
    with serve_in_subprocess(foreign.cnn_int8, "--max-delay-ms", "5") as server:
        assert server.name == "cnn_int8_uint8io"
        assert "tensors image[?, 8, 8, 1]:uint8" in server.output()
        x = foreign.digits_x[:4]
        result = client(server).infer(server.name, [triton_input("image", x, "FP32")])
        detail = litert_runner(foreign.cnn_int8).get_input_details()["image"]["quantization_parameters"]
        raw = np.clip(np.round(x / detail["scales"][0] + detail["zero_points"][0]), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(result.as_numpy("output_0"), bare_tflite(foreign.cnn_int8, {"image": raw})["output_0"])
