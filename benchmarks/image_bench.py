"""``run_image_bench``: an image bundle's passing exports on real test images, one report.

An adapter over ``tensor_bench`` (no second harness): every export runs in its own fresh
``tensor_worker`` process, fed one real test image of the bundle (uint8 pixels, batch 1,
what a camera frame is) instead of synthetic data; the throughput batches cycle that image.
Accuracy per export is the on-device code path (``edgekit.runtime.load`` → ``ImageModel``)
on every test image against the bundle's labels. ``cloud`` serves each export with
``edgekit serve`` and times V2 requests that each carry one real test image encoded as PNG
(``BYTES``), so ``request_bytes`` is what a phone would upload. The report is the
model-file report (``mode: files``) plus ``task`` and a ``metric`` per row, so bench.json,
bench.md and report.html keep their shape.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.benchmarks.cloud import CloudSettings, _drive, running_server
from edgekit.benchmarks.edge import BenchmarkError
from edgekit.benchmarks.tensor_bench import FileBenchOptions, add_cloud_comparison, run_files_bench
from edgekit.benchmarks.tensor_cloud import MODEL_NAME, infer_once
from edgekit.console import progress

CARD_FILE = "image_card.json"
CLOUD_IMAGES = 16  # distinct PNG request bodies, cycled by the load client


def is_image_bundle(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / CARD_FILE).is_file()


def run_image_bench(bundle_path: str | Path, options: FileBenchOptions | None = None, *,
                    exports: tuple[Path, ...] | None = None, show_progress: bool | None = None) -> dict[str, Any]:
    from edgekit.train.image_bundle import load_image_bundle

    options = options or FileBenchOptions()
    bundle = load_image_bundle(bundle_path)
    test = bundle.split("test")
    paths = export_files(tuple(exports) if exports else (bundle.path / "exports",))
    with tempfile.TemporaryDirectory(prefix="edgekit-image-bench-") as scratch:
        feeds = {str(p): _feed_file(p, test.x[:1], Path(scratch) / f"{i}.npz") for i, p in enumerate(paths)}
        report = run_files_bench(paths, replace(options, inputs_per_file=feeds, cloud=False), show_progress=show_progress)
    labels = [str(bundle.card.class_names[int(i)]) for i in test.y]
    predicted: dict[str, list[str]] = {}
    for row, path in zip(report["edge"], paths):
        if row["status"] != "ok":
            continue
        predicted[row["name"]] = _labels(path, test.x)
        row["metric"] = {"accuracy": float(np.mean(np.asarray(predicted[row["name"]]) == np.asarray(labels)))}
    report["mode"] = "files"
    report["bundle"] = str(bundle.path)
    report["task"] = {"type": "classification", "metric": "accuracy", "test_images": int(len(test.y)),
                      "image_shape": list(test.x.shape[1:]), "feed": "first test image (uint8), batch 1"}
    if options.cloud:
        settings = options.resolved().cloud_settings
        report["cloud"] = measure_images_cloud(report["edge"], test.x[:CLOUD_IMAGES], predicted, settings,
                                               show_progress=show_progress)
        add_cloud_comparison(report["comparison"], report["edge"], report["cloud"])
        report["settings"]["cloud"] = settings.__dict__
        report["failed"] += [f"{c['name']} (cloud)" for c in report["cloud"] if c["status"] != "ok"]
    return report


def export_files(folders: tuple[Path, ...]) -> list[Path]:
    """The passing exports' model files (rejected ones live under rejected/, one level deeper)."""
    from edgekit.runtime.errors import ConfigError

    paths = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise ConfigError(f"{folder}: no exports folder", hint="run 'edgekit convert BUNDLE' first or pass --exports")
        paths += sorted(p for p in folder.glob("*/model.*") if p.suffix in (".tflite", ".onnx", ".ort"))
    if not paths:
        raise ConfigError(f"{', '.join(map(str, folders))}: no exports that passed the gate")
    return paths


def _feed_file(path: Path, pixels: np.ndarray, out: Path) -> Path:
    """An .npz with the image under the export's own input name (TFLite and ONNX name it differently)."""
    from edgekit.runtime import load

    model = load(path)
    try:
        name = model.inputs[0].name
    finally:
        model.close()
    np.savez(out, **{name: pixels})
    return out


def _labels(path: Path, pixels: np.ndarray) -> list[str]:
    from edgekit.runtime import load

    model = load(path)
    try:
        return [str(label) for label in model.predict(pixels).labels]
    finally:
        model.close()


def png_body(image: np.ndarray) -> bytes:
    """A V2 request with one image encoded as PNG (base64 BYTES, the V2 JSON convention)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return json.dumps({"inputs": [{"name": "image_bytes", "shape": [1], "datatype": "BYTES", "data": [data]}]}).encode()


def _served_labels(url: str, body: bytes) -> list[str]:
    answer = infer_once(url, body)
    label = next((o for o in answer.get("outputs", []) if isinstance(o, dict) and o.get("name") == "label"), None)
    if label is None:
        raise BenchmarkError("edgekit serve's answer has no 'label' output")
    return [str(v) for v in label["data"]]


def measure_images_cloud(rows: list[dict[str, Any]], images: np.ndarray, predicted: dict[str, list[str]],
                         settings: CloudSettings, *, show_progress: bool | None = None) -> list[dict[str, Any]]:
    """Per measured export: ``edgekit serve FILE`` timed with one real PNG per request.
    ``outputs_match``: the served labels of those images equal the on-device ones."""
    bodies = [png_body(image) for image in images]
    todo = [r for r in rows if r["status"] == "ok"]
    results = []
    with progress("cloud (edgekit serve, PNG requests)", total=len(todo), show=show_progress) as bar:
        for row in todo:
            bar.advance(0, description=f"cloud: edgekit serve {row['name']}")
            try:
                with running_server(Path(row["path"]), name=MODEL_NAME, timeout_s=settings.startup_timeout_s) as url:
                    served = [_served_labels(url, body)[0] for body in bodies]
                    result = asyncio.run(_drive(url, MODEL_NAME, bodies, settings, settings.concurrency))
                results.append({"name": row["name"], "kind": "cloud", "status": "ok", "error": None,
                                "outputs_match": served == predicted[row["name"]][:len(bodies)],
                                "request": "V2 BYTES, one PNG-encoded test image (base64)",
                                "url": "edgekit serve on 127.0.0.1 (started by the benchmark)", **result})
            except BenchmarkError as exc:
                results.append({"name": row["name"], "kind": "cloud", "status": "failed", "error": str(exc)})
            bar.advance()
    return results
