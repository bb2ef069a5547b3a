"""A Keras bundle served through its traced graph, answering concurrent batched requests."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def keras_mpg(tmp_path_factory):
    from edgekit.train import TrainConfig, load_bundle, train

    result = train("auto-mpg", TrainConfig(target="mpg", models=("nn",), quick=True, cv=3), n_jobs=1, show_progress=False)
    path = result.save(tmp_path_factory.mktemp("keras") / "auto-mpg-nn")
    bundle = load_bundle(path)
    test = bundle.split("test")
    return path, bundle.card.schema, test[bundle.card.schema.names].reset_index(drop=True), \
        bundle.source_model().predict_frame(test)


def test_keras_bundle_over_v2_and_tf_serving_matches_source_model(keras_mpg, make_triton_client):
    import tritonclient.http as httpclient

    from edgekit.serve import create_app, load_predictor, serve_in_thread

    path, schema, frame, expected = keras_mpg
    predictor = load_predictor(path)
    assert predictor.platform == "keras"
    with serve_in_thread(create_app(predictor, max_delay_ms=20)) as server:
        inputs = []
        for name in schema.names:
            tensor = httpclient.InferInput(name, [len(frame), 1], "FP32")
            tensor.set_data_from_numpy(frame[name].to_numpy(np.float32).reshape(-1, 1))
            inputs.append(tensor)
        result = make_triton_client(server).infer(server.name, inputs)
        np.testing.assert_allclose(result.as_numpy("prediction")[:, 0], expected, rtol=1e-4, atol=1e-3)

        async def one_row_each():
            url = f"{server.url}/v1/models/{server.name}:predict"
            rows = [{k: (None if v != v else float(v)) for k, v in r.items()} for r in frame.to_dict("records")]
            async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=32)) as client:
                return await asyncio.gather(*(client.post(url, json={"instances": [row]}) for row in rows[:32]))

        answers = [r.json()["predictions"][0][0] for r in asyncio.run(one_row_each())]
        np.testing.assert_allclose(answers, expected[:32], rtol=1e-4, atol=1e-3)
        stats = httpx.get(f"{server.url}/v2/models/{server.name}/stats").json()["model_stats"][0]["batching"]
        assert stats["max_requests_per_batch"] > 1
