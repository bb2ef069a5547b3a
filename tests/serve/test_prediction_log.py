"""``--log``: every served prediction lands in the runtime's prediction log, under the id
the response gave the client (so ground truth can be joined later)."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np

from edgekit.runtime.prediction_log import read_log
from edgekit.serve import create_app, load_predictor, serve_in_thread


def test_batched_predictions_are_logged_under_the_ids_the_responses_give(iris, tmp_path):
    log = tmp_path / "predictions.sqlite"
    rows = iris.rows(slice(None))

    async def send(server):
        async with httpx.AsyncClient(timeout=60) as client:
            v2 = [client.post(f"{server.url}/v2/models/{server.name}/infer", json={"inputs": [
                {"name": f, "shape": [2, 1], "datatype": "FP64", "data": [rows[i][f], rows[i + 1][f]]}
                for f in iris.names]}) for i in range(0, 20, 2)]
            tfs = [client.post(f"{server.url}/v1/models/{server.name}:predict", json={"instances": [rows[i]]})
                   for i in range(20, 30)]
            return await asyncio.gather(*v2, *tfs)

    with serve_in_thread(create_app(load_predictor(iris.path), log=log, max_delay_ms=20)) as server:
        responses = asyncio.run(send(server))
    # the server has stopped: the log is closed and flushed
    ids = []
    for r in responses[:10]:
        assert r.status_code == 200, r.text
        ids += r.json()["parameters"]["prediction_ids"]
    for r in responses[10:]:
        ids += r.json()["prediction_ids"]
    assert len(ids) == len(set(ids)) == 30

    logged = read_log(log)
    assert logged.task == "classification" and list(logged.labels) == [0, 1, 2]
    order = {request_id: i for i, request_id in enumerate(logged.request_ids.tolist())}
    assert set(order) == set(ids)
    at = [order[i] for i in ids]  # logged row of the i-th test row
    assert logged.predictions[at].tolist() == iris.expected_labels()[:30]
    np.testing.assert_allclose(logged.probabilities[at], iris.expected[:30], atol=1e-5)
    np.testing.assert_allclose(logged.columns[iris.names[0]][at], iris.frame[iris.names[0]][:30])
