"""The model-file benchmark on tiny runs: full metric set, feeds, failed rows, comparisons,
the overhead harness and the cloud side. References are the bare backends (LiteRT,
onnxruntime) and the files themselves; no wall-clock asserts."""

import hashlib
import json

import numpy as np
import pytest

from edgekit.benchmarks import overhead
from edgekit.benchmarks.cloud import CloudSettings
from edgekit.benchmarks.edge import EdgeSettings
from edgekit.benchmarks.profiles import get_device
from edgekit.benchmarks.report import write_reports
from edgekit.benchmarks.tensor_bench import FileBenchOptions, measure_file, run_files_bench

TINY = EdgeSettings(runs=20, warmup=2, batch_sizes=(1, 32), throughput_seconds=0.02)
STATS = {"count", "p50", "p90", "p95", "p99", "mean", "std", "min", "max"}


def tiny(**kwargs) -> FileBenchOptions:
    return FileBenchOptions(edge=TINY, **kwargs)


def measure(path, tmp_path=None, **kwargs):
    save = tmp_path / f"{path.stem}.npz" if tmp_path is not None else None
    return measure_file(path, get_device("pi-zero"), TINY, tiny(**kwargs), save=save)


def bare_litert(path, feeds: dict) -> list[np.ndarray]:
    """The file run by ai-edge-litert directly on already-typed arrays (signature order)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner()
    return list(runner(**feeds).values())


@pytest.fixture(scope="module")
def images_npz(foreign, tmp_path_factory):
    path = tmp_path_factory.mktemp("feeds") / "images.npz"
    np.savez(path, image=foreign.digits_x[:5])
    return path


@pytest.mark.parametrize("which", ["cnn_fp32", "cnn_int8", "stateful_onnx"])
def test_a_model_file_gets_the_full_metric_set_in_a_fresh_process(foreign, which):
    path = getattr(foreign, which)
    row = measure(path)
    assert row["status"] == "ok", row.get("error")
    lat = row["latency_ms"]
    assert set(lat) == STATS and set(row["validated_latency_ms"]) == STATS and lat["count"] == 20
    assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert len(row["latency_samples_ms"]) == 20 and row["warmup_mean_ms"] > 0
    assert row["size_bytes"] == path.stat().st_size
    assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert 0 < row["cold_peak_rss_mb"] <= row["peak_rss_mb"]
    assert 0 < row["import_ms"] < row["cold_start_ms"]
    assert row["cold_start_ms"] >= row["load_ms"] + row["first_prediction_ms"]
    assert row["throughput_inferences_per_s"] > 0
    assert set(row["throughput_rows_per_s"]) == {"1", "32"} and row["batched"] and row["rows_per_inference"] == 1
    assert row["heavy_modules"] == [] and row["threads"] == 1 and len(row["cpus"]) == 1
    assert row["format"] == path.suffix.lstrip(".") and row["inputs"][0]["name"] == ("x" if which == "stateful_onnx" else "image")
    assert all(feed["source"] == "synthetic" for feed in row["feeds"].values())


def test_the_worker_times_the_model_on_the_feeds_it_reports(foreign, tmp_path):
    """Its saved feeds through bare LiteRT give exactly the outputs the worker got."""
    row = measure(foreign.cnn_int8, tmp_path)
    with np.load(tmp_path / "cnn_int8_uint8io.npz") as saved:
        feeds = {k[5:]: saved[k] for k in saved.files if k.startswith("feed:")}
        raw = saved["raw:output_0"]
    assert row["feeds"]["image"] == {"shape": [1, 8, 8, 1], "dtype": "uint8", "source": "synthetic"}
    np.testing.assert_array_equal(bare_litert(foreign.cnn_int8, feeds)[0], raw)


def test_inputs_npz_feeds_the_model_and_sets_the_rows(foreign, images_npz, tmp_path):
    row = measure(foreign.cnn_fp32, tmp_path, inputs=images_npz)
    assert row["status"] == "ok" and row["feeds"]["image"]["source"] == "file"
    assert row["feeds"]["image"]["shape"] == [5, 8, 8, 1] and row["rows_per_inference"] == 5
    with np.load(tmp_path / "cnn_fp32.npz") as saved:
        got = saved["output:output_0"]
    np.testing.assert_allclose(got, bare_litert(foreign.cnn_fp32, {"image": foreign.digits_x[:5]})[0], rtol=1e-6)


def test_inputs_npz_with_wrong_names_is_refused_naming_them(foreign, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, imag=foreign.digits_x[:1], extra=np.zeros(3, np.float32))
    row = measure(foreign.cnn_fp32, inputs=bad)
    assert row["status"] == "failed" and row["error_type"] == "SchemaError"
    assert "'imag'" in row["error"] and "'extra'" in row["error"] and "['image']" in row["error"]


def test_shape_fixes_the_dynamic_sequence_and_a_missing_one_names_the_dimension(foreign):
    fixed = measure(foreign.dynamic, shapes={"frames": (1, 50, 6)})
    assert fixed["status"] == "ok" and fixed["feeds"]["frames"]["shape"] == [1, 50, 6]
    assert set(fixed["throughput_rows_per_s"]) == {"1", "32"}
    missing = measure(foreign.dynamic)
    assert missing["status"] == "failed" and missing["error_type"] == "SchemaError"
    assert "unknown dimension 1" in missing["error"] and "--shape frames=1,N,6" in missing["error"]
    wrong = measure(foreign.dynamic, shapes={"frame": (1, 5, 6)})
    assert wrong["status"] == "failed" and "'frame'" in wrong["error"] and "frames" in wrong["error"]


def test_two_files_give_one_comparison_with_ratios_and_output_agreement(foreign, images_npz, tmp_path):
    report = run_files_bench([foreign.cnn_fp32, foreign.cnn_int8], tiny(inputs=images_npz), show_progress=False)
    fp32, int8 = report["edge"]
    assert report["mode"] == "files" and report["failed"] == [] and report["cloud"] is None
    comparison = report["comparison"]
    assert comparison["baseline"] == "cnn_fp32.tflite"
    base, other = comparison["rows"]
    assert base["ratios"]["p50"] == 1.0 and base["agreement"] is None
    assert other["ratios"]["p50"] == pytest.approx(int8["latency_ms"]["p50"] / fp32["latency_ms"]["p50"])
    assert other["ratios"]["size"] == pytest.approx(foreign.cnn_int8.stat().st_size / foreign.cnn_fp32.stat().st_size)
    assert other["speedup_p50"] == pytest.approx(1 / other["ratios"]["p50"])
    # The same five float images reach both files (the int8 one quantises them): compare
    # with the two files run by LiteRT directly, quantising by the file's own parameters.
    from ai_edge_litert.interpreter import Interpreter

    x = foreign.digits_x[:5]
    detail = Interpreter(model_path=str(foreign.cnn_int8)).get_input_details()[0]
    scale, zero = detail["quantization"]
    q = np.clip(np.round(x / scale + zero), 0, 255).astype(np.uint8)
    ref_fp32 = bare_litert(foreign.cnn_fp32, {"image": x})[0]
    ref_int8 = bare_litert(foreign.cnn_int8, {"image": q})[0]
    out = Interpreter(model_path=str(foreign.cnn_int8)).get_output_details()[0]
    ref_int8 = (ref_int8.astype(np.float32) - out["quantization"][1]) * out["quantization"][0]
    assert other["agreement"]["argmax_agreement"] == pytest.approx(np.mean(ref_fp32.argmax(1) == ref_int8.argmax(1)))
    assert other["agreement"]["max_abs_diff"] == pytest.approx(np.abs(ref_fp32 - ref_int8).max(), rel=1e-5, abs=1e-6)

    write_reports(report, tmp_path)
    data = json.loads((tmp_path / "bench.json").read_text())
    assert [r["name"] for r in data["edge"]] == ["cnn_fp32.tflite", "cnn_int8_uint8io.tflite"]
    md = (tmp_path / "bench.md").read_text()
    assert "## Against cnn_fp32.tflite" in md and "cnn_int8_uint8io.tflite" in md
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") == 2


def test_baseline_can_be_any_file_and_synthetic_feeds_of_different_dtypes_are_not_compared(foreign):
    report = run_files_bench([foreign.cnn_fp32, foreign.cnn_int8], tiny(baseline="cnn_int8_uint8io.tflite"),
                             show_progress=False)
    comparison = report["comparison"]
    assert comparison["baseline"] == "cnn_int8_uint8io.tflite"
    fp32 = next(c for c in comparison["rows"] if c["name"] == "cnn_fp32.tflite")
    p50 = {r["name"]: r["latency_ms"]["p50"] for r in report["edge"]}
    assert fp32["ratios"]["p50"] == pytest.approx(p50["cnn_fp32.tflite"] / p50["cnn_int8_uint8io.tflite"])
    assert fp32["agreement"] is None  # float noise vs uint8 noise: nothing to compare


def test_a_bad_file_becomes_a_failed_row_and_the_others_still_run(foreign, tmp_path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(foreign.cnn_fp32.read_bytes()[:300])
    missing = tmp_path / "missing.onnx"
    report = run_files_bench([broken, foreign.stateful_onnx, missing], tiny(), show_progress=False)
    rows = {r["name"]: r for r in report["edge"]}
    assert report["failed"] == ["broken.tflite", "missing.onnx"]
    assert rows["broken.tflite"]["error_type"] == "ModelLoadError" and "broken.tflite" in rows["broken.tflite"]["error"]
    assert "no such model file" in rows["missing.onnx"]["error"]
    assert rows["stateful.onnx"]["status"] == "ok"
    assert report["comparison"]["baseline"] == "stateful.onnx" and "first file failed" in report["comparison"]["note"]
    write_reports(report, tmp_path / "out")
    assert "| broken.tflite |" in (tmp_path / "out" / "bench.md").read_text()


def test_overhead_harness_times_the_bench_hot_call_and_a_bare_loop(foreign, capsys):
    for path in (foreign.cnn_int8, foreign.stateful_onnx, foreign.two_io):
        result = overhead.measure_model(path, threads=1, blocks=2, calls=20)
        assert result["bare_p50_us"] > 0 and result["edgekit_p50_us"] > 0 and result["calls"] == 40
        assert result["ratio"] == result["edgekit_p50_us"] / result["bare_p50_us"]
    overhead.main(["--model", str(foreign.cnn_fp32), "--model", str(foreign.dynamic), "--shape", "frames=1,7,6",
                   "--blocks", "2", "--calls", "10"])
    printed = capsys.readouterr().out
    assert "bare p50 µs" in printed and "edgekit p50 µs" in printed
    assert "cnn_fp32.tflite" in printed and "dynamic_seq.tflite" in printed and "target ratio <= 1.25" in printed


def test_bare_loops_compute_what_the_tensor_layer_computes(foreign):
    from edgekit.benchmarks.tensor_worker import build_feeds
    from edgekit.runtime import load
    from edgekit.runtime.tensors import prepare_feeds

    for path in (foreign.two_io, foreign.stateful_onnx, foreign.multi_signature):
        model = load(path)
        feeds, _ = build_feeds(model, seed=3)
        loop, arg = overhead.bare_tensor_loop(path, model, prepare_feeds(model.inputs, feeds), 1)
        got = loop(arg)
        for want, value in zip(model.run(feeds).values(), got if isinstance(got, list) else [got]):
            np.testing.assert_array_equal(value, want)


@pytest.mark.slow
def test_cloud_times_the_same_feeds_against_edgekit_serve(foreign):
    cloud = CloudSettings(requests=20, warmup=2, concurrency=(1, 2), seconds=0.3)
    report = run_files_bench([foreign.cnn_int8, foreign.stateful_onnx], tiny(cloud=True, cloud_settings=cloud),
                             show_progress=False)
    assert report["failed"] == []
    for result in report["cloud"]:
        assert result["status"] == "ok" and result["errors"] == 0 and result["outputs_match"] is True
        assert set(result["latency_ms"]) == STATS and result["latency_ms"]["count"] == 20
        assert [t["concurrency"] for t in result["throughput"]] == [1, 2]
    names = [c["name"] for c in report["comparison"]["edge_vs_cloud"]]
    assert names == ["cnn_int8_uint8io.tflite", "stateful.onnx"]


def test_an_edgekit_tabular_export_is_benchmarked_through_its_tensors(mpg_nn, tmp_path):
    path = mpg_nn.export("tflite-int8")
    row = measure(path, tmp_path)
    assert row["status"] == "ok" and row["size_bytes"] == path.stat().st_size
    (name, feed), = row["feeds"].items()
    assert feed["shape"][0] == 1 and row["inputs"][0]["name"] == name
    with np.load(tmp_path / "model.npz") as saved:
        feeds = {name: saved[f"feed:{name}"]}
        raw = [saved[k] for k in saved.files if k.startswith("raw:")]
    np.testing.assert_array_equal(bare_litert(path, feeds)[0], raw[0])
