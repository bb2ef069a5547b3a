"""``edgekit demo --images``: the image lifecycle on the bundled digits-images, end to end.

train the CNN (a one-trial, 15-epoch search with --quick) → convert (TFLite fp32/fp16/
dynamic/int8 with uint8 input, ONNX fp32/dynamic/int8, gated on the test images) →
benchmark every passing export fed real test images, with accuracy, and optionally each
behind ``edgekit serve`` with PNG requests → report.md, report.html, bench.json (and
bench.md) in the run folder, as the tabular demo writes.

``bundle`` is a seam for tests: an already-trained image bundle is copied in (without its
exports) instead of training one.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


DATASET = "digits-images"
QUICK = {"n_iter": 1, "epochs": 15, "patience": 4}


@dataclass
class ImageDemoResult:
    out: Path
    card: dict[str, Any]
    conversion: dict[str, Any]
    bench: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


def run_image_demo(out: Path | None = None, *, quick: bool = False, cloud: bool = True, show_progress: bool | None = None,
                   bundle: Path | None = None, bench_options=None) -> ImageDemoResult:
    from edgekit.benchmarks.image_bench import run_image_bench
    from edgekit.benchmarks.report import write_reports
    from edgekit.benchmarks.tensor_bench import FileBenchOptions
    from edgekit.convert.image_bundle import convert_image_bundle
    from edgekit.demo import new_run_folder
    from edgekit.train.image_api import ImageTrainConfig, train_images
    from edgekit.train.image_bundle import load_image_bundle

    out = new_run_folder(out)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    if bundle is None:
        result = train_images(DATASET, ImageTrainConfig(**(QUICK if quick else {})), show_progress=show_progress)
        model = result.save(out / "model")
    else:
        model = Path(shutil.copytree(bundle, out / "model", ignore=shutil.ignore_patterns("exports", "bench")))
    card = load_image_bundle(model).card.to_dict()
    seconds["train"] = time.perf_counter() - started

    started = time.perf_counter()
    conversion = convert_image_bundle(model, show_progress=show_progress)
    seconds["convert"] = time.perf_counter() - started

    started = time.perf_counter()
    options = bench_options or FileBenchOptions(quick=quick)
    bench = run_image_bench(model, FileBenchOptions(**{**options.__dict__, "cloud": cloud}), show_progress=show_progress)
    seconds["bench"] = time.perf_counter() - started

    demo = ImageDemoResult(out, card, conversion.to_dict(), bench, seconds)
    write_reports(bench, out)  # bench.json, bench.md, report.html
    (out / "report.md").write_text(markdown(demo, conversion.to_markdown()), encoding="utf-8")
    return demo


def markdown(demo: ImageDemoResult, conversion_md: str) -> str:
    from edgekit.reporting import markdown_table

    card, bench = demo.card, demo.bench
    test = card.get("test_metrics", {})
    cloud = {c["name"]: c for c in bench["cloud"] or [] if c["status"] == "ok"}
    rows = [[r["name"], r["size_bytes"] / 1024, r["latency_ms"]["p50"], r["metric"]["accuracy"],
             cloud[r["name"]]["latency_ms"]["p50"] if r["name"] in cloud else None,
             cloud[r["name"]]["request_bytes"] if r["name"] in cloud else None]
            for r in bench["edge"] if r["status"] == "ok"]
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in demo.seconds.items())
    return "\n".join([
        f"# edgekit demo --images: {DATASET}", "",
        f"Test accuracy of the Keras model: {test.get('accuracy')} on {bench['task']['test_images']} test images "
        f"({card['input']['height']}x{card['input']['width']}x{card['input']['channels']} uint8 pixels). Time: {timing}.", "",
        "## Exports", "", conversion_md, "",
        "## Benchmark (fed real test images)", "",
        markdown_table(["export", "KB", "on-device p50 ms", "test accuracy", "serve p50 ms (PNG)", "request bytes"], rows),
        "", "Full tables: bench.md, report.html, bench.json.", ""])
