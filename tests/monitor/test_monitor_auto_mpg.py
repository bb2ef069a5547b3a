"""End to end: a model trained on 1970-76 cars, exported to ONNX, predictions logged on
the device path (``edgekit.runtime.load(..., log=...)``), then monitored."""

from __future__ import annotations

import json

import pytest

from edgekit.monitor import run_monitor

pytestmark = pytest.mark.slow



def test_a_stream_from_the_training_period_is_ok(auto_mpg):
    report = run_monitor(auto_mpg.logs["held"], auto_mpg.bundle, actuals=auto_mpg.actuals["held"], window=100, plots=False)
    assert report.rows == len(auto_mpg.streams["held"])
    assert {f.name: f.status for f in report.features} == {name: "ok" for name in auto_mpg.names}
    assert report.prediction.status == "ok"
    assert report.performance.status == "ok" and report.performance.joined_rows == report.rows
    assert abs(report.performance.degradation) < 0.1
    assert (report.status, report.exit_code, report.drifted) == ("ok", 0, [])


def test_later_model_years_alert_on_input_prediction_and_performance_drift(auto_mpg):
    report = run_monitor(auto_mpg.logs["late"], auto_mpg.bundle, actuals=auto_mpg.actuals["late"], window=60, plots=False)
    status = {f.name: f.status for f in report.features}
    assert status["weight"] == status["model_year"] == "alert"  # newer cars are lighter
    assert report.prediction.status == "alert" and report.prediction.live_mean > report.prediction.reference_mean
    model_year = next(f for f in report.features if f.name == "model_year")
    assert model_year.actual[-1] == 1.0  # every live year lies in the open-ended last bin
    assert report.performance.status == "alert" and report.performance.degradation > 0.2
    assert [w["rows"] for w in report.performance.windows] == [60, 60, 62]
    assert (report.status, report.exit_code) == ("alert", 3)


def test_the_report_is_written_as_json_markdown_and_self_contained_html(auto_mpg, tmp_path):
    report = run_monitor(auto_mpg.logs["late"], auto_mpg.bundle, actuals=auto_mpg.actuals["late"], window=60,
                         out=tmp_path / "report")
    data = json.loads((tmp_path / "report" / "monitor.json").read_text())
    assert data["status"] == "alert" and data["exit_code"] == 3
    assert [f["name"] for f in data["features"]] == auto_mpg.names
    assert data["performance"]["metric"] == "rmse" and len(data["performance"]["windows"]) == 3
    markdown = (tmp_path / "report" / "monitor.md").read_text()
    assert markdown.startswith("# Monitoring report: ALERT") and "| weight | numeric |" in markdown
    page = (tmp_path / "report" / "monitor.html").read_text()
    assert page.count("src='data:image/png;base64,") == len(auto_mpg.names) + 2  # features, prediction, metric
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert report.outputs["html"] == str(tmp_path / "report" / "monitor.html")


def test_the_cli_exits_0_1_or_3_by_overall_status(auto_mpg, tmp_path, run_cli):
    common = ["--bundle", str(auto_mpg.bundle), "--no-plots"]
    code, out, _ = run_cli(["monitor", str(auto_mpg.logs["held"]), *common, "--out", str(tmp_path / "ok")])
    assert code == 0 and "status: ok (exit 0)" in out and "weight" in out
    # Fixed, tiny PSI thresholds turn the sampling noise of the held-out stream into warnings.
    code, out, _ = run_cli(["monitor", str(auto_mpg.logs["held"]), *common, "--out", str(tmp_path / "warn"),
                            "--psi-warn", "0.01", "--psi-alert", "10", "--no-psi-noise"])
    assert code == 1 and "status: warn (exit 1)" in out
    code, out, _ = run_cli(["monitor", str(auto_mpg.logs["late"]), *common, "--out", str(tmp_path / "alert"),
                            "--actuals", str(auto_mpg.actuals["late"]), "--window", "100"])
    assert code == 3 and "status: alert (exit 3)" in out and "rmse" in out
    assert (tmp_path / "alert" / "monitor.html").is_file()


def test_monitoring_one_model_of_a_shared_log_and_its_last_rows(auto_mpg, tmp_path):
    from edgekit.runtime.prediction_log import log_models

    (model,) = log_models(auto_mpg.logs["late"])
    report = run_monitor(auto_mpg.logs["late"], auto_mpg.bundle, model_id=model["model_id"][:12], last=50, plots=False)
    assert report.rows == 50 and report.model_ids == [model["model_id"]]


def test_the_logging_benchmark_runs_on_an_export(auto_mpg, capsys):
    from edgekit.benchmarks.logging_overhead import main as bench

    assert bench(["--model", str(auto_mpg.export), "--rounds", "1", "--calls", "30", "--batch-calls", "2",
                  "--batch", "100", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["batch1_ratio"] > 0 and result["batch_end_to_end_us_per_row"] == pytest.approx(
        result["batch_end_to_end_us_per_row"])  # a number, not NaN; targets are checked by running the benchmark
    warmup, measured = 200 + 5 * 100, 30 + 2 * 100
    assert result["rows_logged"] == warmup + measured
    assert result["log_errors"] is None


def test_a_classifier_monitors_predicted_classes_and_accuracy(iris):
    ok = run_monitor(iris.logs["test"], iris.bundle, actuals=iris.actuals["test"], plots=False)
    assert ok.prediction.kind == "categorical" and ok.prediction.status == "ok"
    assert ok.performance.metric == "f1_macro" and set(ok.performance.overall) == {"accuracy", "f1_macro"}
    assert ok.status == "ok"
    shifted = run_monitor(iris.logs["shifted"], iris.bundle, actuals=iris.actuals["shifted"], plots=False)
    petal = next(f for f in shifted.features if f.name == "petal length (cm)")
    assert petal.status == "alert" and shifted.prediction.status in ("warn", "alert")
    assert shifted.performance.status == "alert" and shifted.exit_code == 3
