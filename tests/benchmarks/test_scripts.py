"""The standalone benchmark scripts produce side-by-side numbers (harness check, tiny runs)."""

from edgekit.benchmarks import cold_start, overhead


def test_overhead_script_measures_both_loops_for_both_backends(mpg_nn):
    for name in ("tflite-fp32", "onnx-fp32"):
        result = overhead.measure(mpg_nn.export(name), threads=1, blocks=3, calls=50)
        assert result["raw_us"] > 0 and result["edgekit_us"] > 0
        assert result["ratio"] == result["edgekit_us"] / result["raw_us"]


def test_raw_loops_compute_what_the_runtime_computes(mpg_nn, mpg_svm):
    import numpy as np

    from edgekit.runtime import load

    for path in (mpg_nn.export("tflite-fp32"), mpg_svm.export("onnx-fp32")):
        model = load(path, threads=1)
        raw = overhead.raw_litert(path, 1) if model.format == "tflite" else overhead.raw_ort(path, 1, model.manifest)
        x = np.array([[4, 97, 88, 2130, 14.5, 70, 3]], np.float32)
        y = raw(x)
        np.testing.assert_allclose(np.ravel(y[0] if isinstance(y, list) else y), model.predict_array(x), rtol=1e-6)


def test_cold_start_script_compares_fresh_processes(mpg_nn):
    result = cold_start.measure(mpg_nn.export("tflite-fp32"), mpg_nn.bundle / "data" / "test.csv", trials=1)
    for side in ("edgekit", "bare"):
        assert result[side]["ms"] > 0 and result[side]["rss_mb"] > 10
    assert result["time_ratio"] > 0 and isinstance(result["rss_delta_mb"], float)


def test_predict_memory_script_counts_every_row_and_reads_peak_rss(mpg_svm):
    from edgekit.benchmarks import predict_memory

    result = predict_memory.measure(mpg_svm.export("onnx-fp32"), mpg_svm.bundle / "data" / "test.csv", rows=500, batch_size=64)
    assert result["exit_code"] == 0 and result["predictions"] == 500
    assert 10 < result["peak_rss_mb"] < 1000


def test_soak_harness_paces_requests_and_samples_server_memory(mpg_svm):
    import asyncio

    from edgekit.benchmarks import soak
    from edgekit.benchmarks.cloud import v2_bodies
    from edgekit.runtime import read_manifest
    from edgekit.serve.launcher import serve_in_subprocess

    schema = read_manifest(mpg_svm.export("onnx-fp32")).schema
    row = {"cylinders": 4, "displacement": 97, "horsepower": None, "weight": 2130, "acceleration": 14.5, "model_year": 70, "origin": 3}
    with serve_in_subprocess(mpg_svm.bundle, "--name", "model") as server:
        result = asyncio.run(soak.soak(server.url, "model", v2_bodies([row], schema), server.process.pid,
                                       seconds=3, rate=20, connections=2))
    assert result["requests"] == 60 and result["errors"] == 0 and result["latency_ms"]["count"] == 60
    assert result["seconds"] >= 2.9  # paced, not a burst
    assert len(result["rss_samples"]) >= 3 and result["rss_early_mb"] > 10
