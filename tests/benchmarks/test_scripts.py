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
