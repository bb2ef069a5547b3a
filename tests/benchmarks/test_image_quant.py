"""The image quantisation benchmark's harness on a tiny run (the shared digits bundle's CNN, 3
timed calls per cell): its files are what it says (bare LiteRT reads their input types and
computes the agreement and accuracy it reports), its ratios are its own numbers divided, and
the printed table has every row. No timing asserts. The MobileNet rows are not converted
here (about a minute of TensorFlow conversion on two busy cores); their synthetic
calibration images are checked, and the benchmark run itself exercises the rest."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/image_models.py: the cached digits bundle
from image_models import bare_litert, digits  # noqa: E402,F401  (a session fixture and helpers)

from edgekit.benchmarks.image_quant import ImageQuantOptions, format_report, main, run_image_quant  # noqa: E402
from edgekit.benchmarks.image_quant_models import MobileNetSpec  # noqa: E402

pytestmark = pytest.mark.slow

BATCHES = (1, 4)


@pytest.fixture(scope="module")
def run(digits, tmp_path_factory):
    keep = tmp_path_factory.mktemp("image_quant")
    options = ImageQuantOptions(bundle=digits.bundle, mobilenets=(), batches=BATCHES, runs=3, warmup=1, threads=1,
                                keep=keep)
    return run_image_quant(options), keep


def test_every_model_and_batch_is_measured_with_its_ratio(run):
    report, _ = run
    assert [m["name"] for m in report["models"]] == ["digits CNN 8x8"]
    assert report["settings"]["threads"] == 1 and "XNNPACK" in report["settings"]["op_resolver"]
    for model in report["models"]:
        assert [b["batch"] for b in model["batches"]] == list(BATCHES)
        for b in model["batches"]:
            fp32, int8 = b["fp32"], b["int8"]
            assert fp32["status"] == int8["status"] == "ok"
            assert fp32["runs"] == int8["runs"] == 3 and fp32["threads"] == int8["threads"] == 1
            assert fp32["input"] == "float32" and int8["input"] == "uint8"
            assert b["int8_over_fp32"] == pytest.approx(int8["p50_ms"] / fp32["p50_ms"])
            assert fp32["per_image_ms"] == pytest.approx(fp32["p50_ms"] / b["batch"])


def test_the_files_are_the_bundles_fp32_and_uint8_input_int8_exports_with_their_sizes(run, digits):
    from ai_edge_litert.interpreter import Interpreter

    report, _ = run
    (cnn,) = report["models"]
    fp32, int8 = Path(cnn["files"]["fp32"]), Path(cnn["files"]["int8"])
    assert (fp32, int8) == (digits.export("tflite-fp32"), digits.export("tflite-int8"))
    assert cnn["size_bytes"] == {"fp32": fp32.stat().st_size, "int8": int8.stat().st_size}
    assert cnn["size_ratio"] == pytest.approx(int8.stat().st_size / fp32.stat().st_size)
    assert Interpreter(model_path=str(fp32)).get_input_details()[0]["dtype"] == np.float32
    assert Interpreter(model_path=str(int8)).get_input_details()[0]["dtype"] == np.uint8


def test_mobilenet_calibration_images_are_smooth_seeded_uint8_colour_fields():
    from edgekit.benchmarks.image_quant_models import synthetic_images

    a, b = synthetic_images(3, 32, seed=1), synthetic_images(3, 32, seed=1)
    assert a.dtype == np.uint8 and a.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, synthetic_images(3, 32, seed=2))
    # Neighbouring pixels are far closer than random pixels: smooth fields, not white noise.
    step = np.abs(np.diff(a.astype(float), axis=2)).mean()
    assert step < 0.5 * np.abs(a.astype(float) - a[::-1, ::-1].astype(float)).mean()
    with pytest.raises(ValueError):
        MobileNetSpec("resnet")


def test_agreement_and_accuracy_are_what_bare_litert_computes_on_the_test_images(run, digits):
    from edgekit.train.image_bundle import load_image_bundle

    report, _ = run
    (cnn,) = report["models"]
    test = load_image_bundle(digits.bundle).split("test")
    for b in cnn["batches"]:
        x, y = test.x[: b["batch"]], test.y[: b["batch"]]
        fp32, _ = bare_litert(digits.export("tflite-fp32"), x.astype(np.float32))
        int8, _ = bare_litert(digits.export("tflite-int8"), x)
        assert b["top1_agreement"] == pytest.approx(np.mean(fp32.argmax(1) == int8.argmax(1)))
        assert b["accuracy"] == pytest.approx({"fp32": np.mean(fp32.argmax(1) == y), "int8": np.mean(int8.argmax(1) == y)})


def test_the_table_names_every_row_and_bad_options_exit_2(run, capsys):
    report, _ = run
    text = format_report(report)
    for model in report["models"]:
        for b in model["batches"]:
            assert any(line.startswith(model["name"]) and line.split()[len(model["name"].split())] == str(b["batch"])
                       for line in text.splitlines())
    assert "1 thread(s)" in text and "load average" in text
    assert main(["--batches", "0", "--no-mobilenet"]) == 2
    assert "batch sizes must be at least 1" in capsys.readouterr().err
