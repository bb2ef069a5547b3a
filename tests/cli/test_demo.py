"""edgekit demo --quick end to end: reports, exports that load in bare backends, bench.json."""

import json
import subprocess
import sys

import numpy as np
import pytest



@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    done = subprocess.run([sys.executable, "-m", "edgekit", "demo", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return out, done


@pytest.mark.slow
def test_demo_writes_reports_and_exports(demo):
    out, done = demo
    for name in ("report.md", "report.html", "bench.json"):
        assert (out / name).is_file()
    assert list(out.rglob("*.tflite")) and list(out.rglob("*.onnx"))
    card = json.loads((out / "model" / "model_card.json").read_text())
    report = (out / "report.md").read_text()
    assert f"({card['winner']['name']})" in report
    for metric in ("rmse", "mae", "r2"):
        assert f"{card['test_metrics'][metric]:.4g}" in report
    for row in card["leaderboard"]:
        assert row["title"] in report
    assert "Chosen model" in done.stdout


@pytest.mark.slow
def test_every_demo_export_matches_its_source_in_a_bare_process(demo, bare_backend):
    from edgekit.runtime.inputs import to_columns, to_matrix
    from edgekit.train import load_bundle

    out, _ = demo
    for bundle_dir in (out / "model", out / "model-nn"):
        if not bundle_dir.is_dir():
            continue
        bundle = load_bundle(bundle_dir)
        test = bundle.split("test")
        schema = bundle.card.schema
        x = to_matrix(to_columns({f.name: test[f.name].to_numpy() for f in schema}, schema), schema)
        source = bundle.source_model().predict_frame(test)
        for model in (bundle_dir / "exports").glob("*/model.*"):
            outputs, heavy = bare_backend(model, x)
            assert heavy == []
            error = np.abs(outputs - source).max()
            parity = json.loads((model.parent / "manifest.json").read_text())["parity"]
            assert error == pytest.approx(parity["max_abs_error"], rel=1e-4, abs=1e-6), model
            if model.parent.name.endswith("fp32"):
                assert error <= 1e-3, (model, error)  # MPG


@pytest.mark.slow
def test_bench_json_has_edge_and_cloud_latency_for_the_same_model(demo):
    out, _ = demo
    bench = json.loads((out / "bench.json").read_text())
    same = bench["comparison"]["same_model"]
    winner = json.loads((out / "model" / "model_card.json").read_text())["winner"]["name"]
    assert same["edge"].startswith(f"{winner}/") and same["edge_p50_ms"] > 0 and same["cloud_p50_ms"] > 0
    assert bench["cloud"]["family"] == winner and bench["cloud"]["errors"] == 0


@pytest.mark.slow
def test_demo_never_overwrites_a_run(demo):
    out, _ = demo
    done = subprocess.run([sys.executable, "-m", "edgekit", "demo", "--quick", "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 2 and "never overwrites" in done.stderr
