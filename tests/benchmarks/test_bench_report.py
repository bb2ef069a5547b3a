"""run_bench end to end on a tiny run: bench.json schema, reports, recommendation rule."""

import json

import pytest

from edgekit.benchmarks.api import BenchOptions, compare, run_bench
from edgekit.benchmarks.cloud import CloudSettings
from edgekit.benchmarks.edge import EdgeSettings
from edgekit.benchmarks.profiles import get_networks
from edgekit.benchmarks.report import write_reports

TINY_EDGE = EdgeSettings(runs=20, warmup=2, batch_sizes=(1, 32), throughput_seconds=0.02)
TINY_CLOUD = CloudSettings(requests=20, warmup=2, concurrency=(1, 4), seconds=0.3)


@pytest.fixture(scope="module")
def report(mpg_svm):
    options = BenchOptions(edge=TINY_EDGE, cloud_settings=TINY_CLOUD, compare_batching=True)
    return run_bench(mpg_svm.bundle, options, show_progress=False)


@pytest.mark.slow
def test_bench_json_has_one_schema_for_edge_and_cloud(report, tmp_path):
    write_reports(report, tmp_path)
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["schema_version"] == 1 and data["units"]["latency"] == "ms"
    keys = {"count", "p50", "p90", "p95", "p99", "mean", "std", "min", "max"}
    assert set(data["edge"][0]["latency_ms"]) == keys and set(data["cloud"]["latency_ms"]) == keys
    assert [e["name"] for e in data["edge"]] == ["onnx-fp32"]
    cloud = data["cloud"]
    assert cloud["errors"] == 0 and cloud["request_bytes"] > 0 and cloud["response_bytes"] > 0
    assert [t["concurrency"] for t in cloud["throughput"]] == [1, 4]
    assert cloud["batching"]["ratio"] > 0
    networks = {n["network"]: n for n in data["comparison"]["per_network"]}
    assert networks["loopback"]["method"] == "measured" and networks["4g"]["method"] == "modelled"
    assert networks["4g"]["cloud_p50_ms"] > networks["loopback"]["cloud_p50_ms"]
    assert data["comparison"]["same_model"]["edge"] == "onnx-fp32"
    md = (tmp_path / "bench.md").read_text()
    assert "Recommended variant" in md and "modelled" in md
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4


def test_recommendation_skips_a_faster_but_less_accurate_export():
    def edge(name, p50, rmse):
        return {"name": name, "latency_ms": {"p50": p50}, "metric": {"rmse": rmse}, "source_family": "x"}

    report = {"bundle": {"metric": "rmse", "family": "svm"}, "cloud": None,
              "edge": [edge("svm/onnx-fp32", 0.05, 2.17), edge("nn/tflite-int8", 0.01, 2.5), edge("svm/onnx-x", 0.04, 2.19)]}
    assert compare(report, get_networks(("loopback",)))["recommended"] == "svm/onnx-x"


def test_missing_exports_is_a_clear_error(tmp_path, mpg_svm):
    from edgekit.runtime import ConfigError

    with pytest.raises(ConfigError, match="no exports folder"):
        run_bench(mpg_svm.bundle, BenchOptions(exports=(tmp_path / "none",), cloud=False), show_progress=False)


@pytest.mark.slow
def test_the_fastest_export_gets_a_second_cloud_row_with_the_same_fields(report, tmp_path):
    write_reports(report, tmp_path)
    data = json.loads((tmp_path / "bench.json").read_text())
    source, served = data["cloud"], data["cloud_export"]
    assert source["name"] == "cloud" and served["name"] == "cloud-export" and served["kind"] == "cloud"
    fastest = min(data["edge"], key=lambda r: r["latency_ms"]["p50"])
    assert served["export"] == fastest["name"] and served["format"] == fastest["format"]
    shared = {"latency_ms", "latency_samples_ms", "throughput", "request_bytes", "response_bytes", "errors", "client"}
    assert shared <= set(source) and shared <= set(served)
    assert set(served["latency_ms"]) == set(source["latency_ms"])
    assert [t["concurrency"] for t in served["throughput"]] == [t["concurrency"] for t in source["throughput"]]
    assert served["errors"] == 0 and served["request_bytes"] == source["request_bytes"]
    for row in data["comparison"]["per_network"]:
        assert row["export_cloud_p50_ms"] >= served["latency_ms"]["p50"] and row["export_speedup"] > 0
    assert data["comparison"]["cloud_export"]["export"] == fastest["name"]
    assert f"Cloud with the fastest export ({fastest['name']}" in (tmp_path / "bench.md").read_text()
