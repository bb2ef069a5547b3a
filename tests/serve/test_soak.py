"""Many clients at once, good and bad requests interleaved, against the real CLI server.

The issue asks for 32 clients over 30 s. CI runs the same test for 10 s; set
EDGEKIT_SERVE_SOAK_SECONDS=30 to run it at full length. Nothing here asserts times.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time

import httpx
import numpy as np
import pytest

from edgekit.serve import serve_in_subprocess

CLIENTS = 32
SECONDS = float(os.environ.get("EDGEKIT_SERVE_SOAK_SECONDS", "10"))


def bad_requests(served, name: str) -> list[tuple[str, bytes, int]]:
    """(path, body, expected status) of requests the server must refuse."""
    v2 = f"/v2/models/{name}/infer"
    tfs = f"/v1/models/{name}:predict"
    first = served.names[0]
    return [
        (v2, b'{"inputs": [{"name": ', 400),
        (v2, json.dumps({"inputs": [{"name": first + "z", "shape": [1], "datatype": "FP32", "data": [1]}]}).encode(), 400),
        (v2, json.dumps({"inputs": [{"name": first, "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}).encode(), 400),
        (v2, json.dumps({"inputs": [{"name": first, "shape": [1], "datatype": "BYTES", "data": ["x"]}]}).encode(), 400),
        (tfs, json.dumps({"instances": [{first: "eight"}]}).encode(), 400),
        (tfs, b"[]", 400),
        ("/v2/models/other/infer", b"{}", 404),
    ]


def good_request(served, name: str, rng: random.Random) -> tuple[str, dict, list[int], str]:
    index = rng.sample(range(len(served.frame)), rng.randint(1, 4))
    kind = rng.choice(["v2", "v2-matrix", "tfs-rows", "tfs-columns"])
    rows = served.rows(index)
    if kind == "v2":
        body = {"inputs": [{"name": f, "shape": [len(rows), 1], "datatype": "FP32", "data": [r[f] for r in rows]}
                           for f in served.names]}
    elif kind == "v2-matrix":
        body = {"inputs": [{"name": "x", "shape": [len(rows), len(served.names)], "datatype": "FP64",
                            "data": [[r[f] for f in served.names] for r in rows]}]}
    elif kind == "tfs-rows":
        body = {"instances": rows}
    else:
        body = {"inputs": {f: [r[f] for r in rows] for f in served.names}}
    path = f"/v2/models/{name}/infer" if kind.startswith("v2") else f"/v1/models/{name}:predict"
    return path, body, index, kind


def predictions_of(kind: str, doc: dict) -> list[float]:
    if kind.startswith("v2"):
        return doc["outputs"][0]["data"]
    return [p[0] for p in (doc["predictions"] if kind == "tfs-rows" else doc["outputs"])]


async def client_loop(client, served, name, seed: int, deadline: float, tally: dict) -> None:
    rng = random.Random(seed)
    bad = bad_requests(served, name)
    n = 0
    while time.monotonic() < deadline:
        n += 1
        try:
            if n % 4 == 0:
                path, body, status = bad[rng.randrange(len(bad))]
                response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
                if response.status_code != status or "error" not in response.json():
                    tally["failures"].append(f"bad {path}: {response.status_code} {response.text[:200]}")
                else:
                    tally["bad"] += 1
                continue
            path, body, index, kind = good_request(served, name, rng)
            response = await client.post(path, json=body)
            if response.status_code != 200:
                tally["failures"].append(f"good {kind}: {response.status_code} {response.text[:200]}")
                continue
            got = np.asarray(predictions_of(kind, response.json()), dtype=np.float64)
            if not np.allclose(got, served.expected[index], rtol=1e-5, atol=1e-4, equal_nan=True):
                tally["failures"].append(f"good {kind}: wrong answer {got} for rows {index}")
            else:
                tally["good"] += 1
        except httpx.HTTPError as exc:
            tally["failures"].append(f"transport: {type(exc).__name__}: {exc}")


async def soak(url: str, served, name: str, seconds: float) -> dict:
    tally = {"good": 0, "bad": 0, "failures": []}
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        loops = [client_loop(client, served, name, seed, deadline, tally) for seed in range(CLIENTS)]
        await asyncio.wait_for(asyncio.gather(*loops), timeout=seconds + 120)
    return tally


@pytest.mark.slow
def test_32_clients_get_correct_answers_while_bad_requests_are_interleaved(mpg):
    with serve_in_subprocess(mpg.path, "--name", "mpg") as server:
        tally = asyncio.run(soak(server.url, mpg, server.name, SECONDS))
        assert not tally["failures"], tally["failures"][:10]
        assert tally["good"] > CLIENTS and tally["bad"] > CLIENTS
        stats = httpx.get(f"{server.url}/v2/models/mpg/stats").json()["model_stats"][0]
        assert stats["inference_stats"]["fail"]["count"] == 0  # bad requests never reach the model
        assert stats["batching"]["max_requests_per_batch"] > 1
        # still healthy afterwards
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200
    assert server.process.returncode is not None  # stopped
