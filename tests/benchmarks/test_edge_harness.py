"""The on-device harness on tiny runs: fresh process, right schema, honest numbers."""

import json
import os

import pytest

from edgekit.benchmarks.edge import EdgeSettings, measure_export
from edgekit.benchmarks.profiles import get_device

TINY = EdgeSettings(runs=20, warmup=2, batch_sizes=(1, 32), throughput_seconds=0.02)
FEATURES = ["cylinders", "displacement", "horsepower", "weight", "acceleration", "model_year", "origin"]


def test_worker_runs_in_a_fresh_process_with_only_the_runtime(mpg_nn):
    result = measure_export(mpg_nn.export("tflite-fp32"), mpg_nn.bundle / "data" / "test.csv", FEATURES,
                            get_device("pi-zero"), TINY)
    assert result["heavy_modules"] == []  # no TensorFlow, scikit-learn, pandas in the device process
    assert result["cpus"] == [min(os.sched_getaffinity(0))] and result["threads"] == 1
    assert result["latency_ms"]["count"] == 20 and len(result["latency_samples_ms"]) == 20
    assert result["hot_path_latency_ms"]["count"] == 20
    assert set(result["throughput_rows_per_s"]) == {"1", "32"}
    assert 0 < result["import_ms"] < result["cold_start_ms"]
    assert result["cold_start_ms"] >= result["python_start_ms"] + result["load_ms"] + result["first_prediction_ms"]
    assert 10 < result["cold_peak_rss_mb"] <= result["peak_rss_mb"] < 400


def test_worker_metric_equals_the_parity_metric(mpg_nn):
    manifest = json.loads((mpg_nn.exports / "tflite-fp32" / "manifest.json").read_text())
    result = measure_export(mpg_nn.export("tflite-fp32"), mpg_nn.bundle / "data" / "test.csv", FEATURES,
                            get_device("desktop"), TINY)
    assert result["metric"]["rmse"] == pytest.approx(manifest["parity"]["export_metric"], rel=1e-6)


def test_classification_worker_reports_accuracy_and_f1(iris_linear):
    features = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    result = measure_export(iris_linear.export("onnx-fp32"), iris_linear.bundle / "data" / "test.csv", features,
                            get_device("desktop"), TINY)
    from sklearn.metrics import f1_score
    import pandas as pd

    from edgekit.runtime import load

    test = pd.read_csv(iris_linear.bundle / "data" / "test.csv")
    predicted = load(iris_linear.export("onnx-fp32")).predict(test[features]).values.astype(int)
    assert result["metric"]["f1_macro"] == pytest.approx(f1_score(test["target"], predicted, average="macro"))
    assert result["metric"]["accuracy"] == pytest.approx((predicted == test["target"]).mean())
