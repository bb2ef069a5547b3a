"""Micro-batching: concurrent requests share model calls, each gets exactly its own rows."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from edgekit.serve.batcher import MicroBatcher
from edgekit.serve.predictors import Outputs


def v2_body(served, index) -> dict:
    rows = served.frame.iloc[index]
    return {"inputs": [{"name": f, "shape": [len(rows), 1], "datatype": "FP32",
                        "data": [None if np.isnan(v) else float(v) for v in rows[f]]} for f in served.names]}


async def fire(server, served, requests: list) -> list[np.ndarray]:
    """Send all requests at once; return each answer's predictions."""
    url = f"{server.url}/v2/models/{server.name}/infer"
    limits = httpx.Limits(max_connections=len(requests))
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        responses = await asyncio.gather(*(client.post(url, json=v2_body(served, index)) for index in requests))
    for r in responses:
        assert r.status_code == 200, r.text
    return [np.asarray(r.json()["outputs"][0]["data"], dtype=np.float64) for r in responses]


def batching_stats(server) -> dict:
    return httpx.get(f"{server.url}/v2/models/{server.name}/stats").json()["model_stats"][0]


def one_row_each(served, n: int) -> list:
    return [[i % len(served.frame)] for i in range(n)]


def assert_answers_match(served, requests, answers) -> None:
    for index, answer in zip(requests, answers):
        np.testing.assert_allclose(answer, served.expected[index], rtol=1e-5, atol=1e-4)


def test_concurrent_requests_are_micro_batched(mpg, start_server):
    server = start_server(mpg, max_delay_ms=20)
    requests = one_row_each(mpg, 32)
    answers = asyncio.run(fire(server, mpg, requests))
    assert_answers_match(mpg, requests, answers)
    stats = batching_stats(server)
    batching = stats["batching"]
    assert batching["enabled"] and batching["requests"] == 32 and batching["rows"] == 32
    assert batching["max_requests_per_batch"] > 1
    assert batching["batches"] < 32
    assert stats["execution_count"] == batching["batches"]  # one model call per batch
    assert stats["inference_count"] == 32
    assert any(entry["batch_size"] > 1 for entry in stats["batch_stats"])


def test_no_batching_runs_every_request_alone(mpg, start_server):
    server = start_server(mpg, batching=False)
    requests = one_row_each(mpg, 32)
    answers = asyncio.run(fire(server, mpg, requests))
    assert_answers_match(mpg, requests, answers)
    batching = batching_stats(server)["batching"]
    assert not batching["enabled"]
    assert batching["batches"] == batching["requests"] == 32
    assert batching["max_requests_per_batch"] == 1
    assert batching["requests_per_batch"] == {"1": 32}


def test_batches_stay_within_max_batch_size_and_big_requests_run_alone(mpg, start_server):
    server = start_server(mpg, max_batch_size=4, max_delay_ms=20)
    requests = one_row_each(mpg, 24) + [list(range(10)), [5, 6, 7]]
    answers = asyncio.run(fire(server, mpg, requests))
    assert_answers_match(mpg, requests, answers)
    sizes = {entry["batch_size"] for entry in batching_stats(server)["batch_stats"]}
    assert sizes - {10} and all(size <= 4 for size in sizes - {10})
    assert 10 in sizes  # larger than max_batch_size: run alone, never split


def echo(columns) -> Outputs:
    a = np.asarray(columns["a"], dtype=np.float64)
    if (a < 0).any():
        raise ValueError("negative")
    return Outputs(prediction=a * 10)


async def submit_all(batcher: MicroBatcher, parts: list[list[float]]):
    jobs = [batcher.submit({"a": np.asarray(p, dtype=np.float64)}, len(p)) for p in parts]
    try:
        return await asyncio.gather(*jobs, return_exceptions=True)
    finally:
        await batcher.close()
        batcher.shutdown_executor()


def test_batcher_splits_outputs_back_in_request_order():
    batcher = MicroBatcher(echo, max_batch_size=64, max_delay_ms=50)
    parts = [[1.0], [2.0, 3.0], [4.0, 5.0, 6.0], [7.0]]
    results = asyncio.run(submit_all(batcher, parts))
    assert [r.prediction.tolist() for r in results] == [[10.0], [20.0, 30.0], [40.0, 50.0, 60.0], [70.0]]
    assert batcher.stats.batches == 1 and batcher.stats.max_requests == 4


def test_one_failing_request_does_not_fail_its_batch_mates():
    batcher = MicroBatcher(echo, max_batch_size=64, max_delay_ms=50)
    results = asyncio.run(submit_all(batcher, [[1.0], [-1.0], [2.0]]))
    assert results[0].prediction.tolist() == [10.0]
    assert isinstance(results[1], ValueError)
    assert results[2].prediction.tolist() == [20.0]
    assert batcher.stats.failed_requests == 1


def test_a_lone_tracked_request_does_not_wait_for_company():
    """With in_flight tracking, a request nobody can join runs at once, not after the
    (here absurd, 60 s) delay; two tracked requests in flight still share one call."""
    batcher = MicroBatcher(echo, max_batch_size=64, max_delay_ms=60_000)

    async def tracked(value: float):
        with batcher.in_flight():
            return await batcher.submit({"a": np.asarray([value])}, 1)

    async def scenario():
        try:
            alone = await asyncio.wait_for(tracked(1.0), timeout=30)
            pair = await asyncio.wait_for(asyncio.gather(tracked(2.0), tracked(3.0)), timeout=30)
            return alone, pair
        finally:
            await batcher.close()
            batcher.shutdown_executor()

    alone, pair = asyncio.run(scenario())
    assert alone.prediction.tolist() == [10.0]
    assert [p.prediction.tolist() for p in pair] == [[20.0], [30.0]]
    assert batcher.stats.batches == 2 and batcher.stats.max_requests == 2


@pytest.mark.parametrize("size, delay", [(0, 1), (4, -1)])
def test_batcher_refuses_bad_settings(size, delay):
    with pytest.raises(ValueError):
        MicroBatcher(echo, max_batch_size=size, max_delay_ms=delay)


def test_outputs_of_the_wrong_length_fail_the_requests_instead_of_mixing_rows():
    def one_row_too_many(columns) -> Outputs:
        return Outputs(prediction=np.zeros(len(columns["a"]) + 1))

    batcher = MicroBatcher(one_row_too_many, max_batch_size=64, max_delay_ms=50)
    results = asyncio.run(submit_all(batcher, [[1.0, 2.0], [3.0]]))
    assert all(isinstance(r, Exception) and "rows of outputs" in str(r) for r in results)
