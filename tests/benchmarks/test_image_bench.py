"""``edgekit bench IMAGE_BUNDLE``: the tensor harness fed real test images, accuracy per export,
and the cloud side with PNG requests. References: ImageModel.predict and bare LiteRT on the
same test images, the PNG encoding itself. Tiny runs, no wall-clock asserts."""

import base64
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.benchmarks.cloud import CloudSettings
from edgekit.benchmarks.edge import EdgeSettings
from edgekit.benchmarks.image_bench import png_body, run_image_bench
from edgekit.benchmarks.report import write_reports
from edgekit.benchmarks.tensor_bench import FileBenchOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/image_models.py: the cached digits bundle
from image_models import bare_litert, digits  # noqa: E402,F401  (a session fixture and helpers)

pytestmark = pytest.mark.slow
TINY = EdgeSettings(runs=20, warmup=2, batch_sizes=(1, 32), throughput_seconds=0.02)
CLOUD = CloudSettings(requests=20, warmup=2, concurrency=(1,), seconds=0.2)


def test_rows_for_every_export_with_accuracy_of_the_runtime(digits, tmp_path):
    from edgekit.runtime import load
    from edgekit.train.image_bundle import load_image_bundle

    report = run_image_bench(digits.bundle, FileBenchOptions(edge=TINY), show_progress=False)
    test = load_image_bundle(digits.bundle).split("test")
    names = load_image_bundle(digits.bundle).card.class_names
    truth = np.asarray([str(names[int(i)]) for i in test.y])
    exported = sorted(p for p in digits.exports.glob("*/model.*"))
    assert sorted(Path(r["path"]) for r in report["edge"]) == exported
    for row in report["edge"]:
        assert row["status"] == "ok", row
        path = Path(row["path"])
        feed = next(iter(row["feeds"].values()))
        assert feed == {"shape": [1, *test.x.shape[1:]], "dtype": "uint8", "source": "file"}
        model = load(path)
        expected = float(np.mean(np.asarray([str(v) for v in model.predict(test.x).labels]) == truth))
        model.close()
        assert row["metric"]["accuracy"] == expected
        if path.suffix == ".tflite" and "int8" in path.parent.name:  # independent of ImageModel: bare LiteRT
            scores, details = bare_litert(path, test.x.astype(details_dtype(path)))
            assert row["metric"]["accuracy"] == float(np.mean(scores.argmax(axis=1) == test.y))
    assert report["task"]["test_images"] == len(test.y)
    write_reports(report, tmp_path / "bench")
    assert json.loads((tmp_path / "bench" / "bench.json").read_text())["edge"][0]["metric"]
    assert (tmp_path / "bench" / "bench.md").read_text().strip()


def details_dtype(path):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path)).get_input_details()[0]["dtype"]


def test_cloud_row_sends_a_real_png_and_reports_its_bytes(digits, tmp_path):
    from edgekit.train.image_bundle import load_image_bundle

    one = tmp_path / "exports"
    shutil.copytree(next(digits.exports.glob("tflite-int8*")), one / "tflite-int8")
    report = run_image_bench(digits.bundle, FileBenchOptions(edge=TINY, cloud=True, cloud_settings=CLOUD),
                             exports=(one,), show_progress=False)
    (cloud,) = report["cloud"]
    assert cloud["status"] == "ok", cloud
    assert cloud["outputs_match"] is True
    assert cloud["errors"] == 0
    image = load_image_bundle(digits.bundle).split("test").x[0]
    body = png_body(image)
    data = base64.b64decode(json.loads(body)["inputs"][0]["data"][0])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image
    import io

    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), image[..., 0])
    # the mean over the 16 distinct request bodies: each near one PNG body's size
    assert abs(cloud["request_bytes"] - len(body)) < len(body)
    assert report["comparison"]["edge_vs_cloud"][0]["name"] == cloud["name"]


def test_image_demo_writes_the_report_set_from_an_injected_bundle(digits, tmp_path):
    from edgekit.demo_images import run_image_demo

    one = FileBenchOptions(edge=TINY, cloud_settings=CLOUD)
    demo = run_image_demo(tmp_path / "run", cloud=False, show_progress=False, bundle=digits.bundle, bench_options=one)
    for name in ("report.md", "report.html", "bench.json", "bench.md"):
        assert (demo.out / name).is_file(), name
    passed = {r["name"] for r in demo.conversion["results"] if r["status"] == "passed"}
    assert len(demo.bench["edge"]) == len(passed) and not demo.bench["failed"]
    assert "test accuracy" in (demo.out / "report.md").read_text()


def test_cli_bench_image_bundle(digits, tmp_path):
    import subprocess

    one = tmp_path / "exports"
    shutil.copytree(next(digits.exports.glob("onnx-fp32*")), one / "onnx-fp32")
    run = [sys.executable, "-m", "edgekit", "bench", str(digits.bundle), "--exports", str(one), "--runs", "20",
           "--out", str(tmp_path / "bench")]
    done = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout
    assert json.loads((tmp_path / "bench" / "bench.json").read_text())["edge"][0]["metric"]["accuracy"] > 0
    wrong = subprocess.run(run[:5] + ["--url", "http://x"], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "not for an image bundle" in wrong.stderr
