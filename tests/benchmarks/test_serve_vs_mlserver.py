"""The edgekit-vs-MLServer harness on a tiny run, without MLServer: the "peer" here is the
same edgekit server under a second label (the test suite must not install a venv)."""

import numpy as np
import pytest

from edgekit.benchmarks.edge import BenchmarkError
from edgekit.benchmarks.serve_vs_mlserver import MODEL_NAME, Peer, Settings, check_answers, measure, ratios, request_bodies, table


@pytest.mark.slow
def test_harness_measures_two_servers_with_the_same_requests(mpg_svm):
    from edgekit.serve.launcher import serve_in_subprocess
    from edgekit.train import load_bundle

    bundle = load_bundle(mpg_svm.bundle)
    schema = bundle.card.schema
    rows = bundle.split("test")[schema.names].dropna().to_dict("records")[:20]
    bodies = request_bodies(rows, schema)
    assert all(b'"content_type": "pd"' in b for b in bodies)  # MLServer's DataFrame codec; edgekit ignores it
    expected = bundle.source_model().predict_rows(rows)
    with serve_in_subprocess(mpg_svm.bundle, "--name", MODEL_NAME) as server:
        pid = server.process.pid
        peers = [Peer("edgekit serve", server.url, MODEL_NAME, "prediction", lambda: [pid], triton_stats=True),
                 Peer("fake peer (the same edgekit server)", server.url, MODEL_NAME, "prediction", lambda: [pid])]
        for peer in peers:
            check_answers(peer, bodies, expected)
        with pytest.raises(BenchmarkError, match="does not reproduce"):
            check_answers(peers[1], bodies, np.asarray(expected) + 1.0)
        result = measure(peers, bodies, Settings(concurrency=(1, 4), seconds=0.3, repeat=2, warmup_requests=5))
    for label in ("edgekit serve", "fake peer (the same edgekit server)"):
        assert [len(result["runs"][label][c]) for c in (1, 4)] == [2, 2]
        for c in (1, 4):
            best = result["best"][label][c]
            assert best["errors"] == 0 and best["requests"] > 0 and best["cpu_ms_per_request"] > 0
            assert best["latency_ms"]["count"] == best["requests"] and best["latency_ms"]["p99"] >= best["latency_ms"]["p50"]
            assert best["rows_per_s"] == max(r["rows_per_s"] for r in result["runs"][label][c])
    assert all(r["rows_per_model_call"] >= 1 for r in result["runs"]["edgekit serve"][4])
    assert set(ratios(result, "edgekit serve", "fake peer (the same edgekit server)")) == {1, 4}
    text = table(result, [p.label for p in peers], (1, 4))
    assert text.splitlines()[0].split()[:4] == ["server", "conc", "rows/s", "p50"] and len(text.splitlines()) == 5
