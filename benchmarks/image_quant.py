"""int8 against fp32 on LiteRT for image models, in one run.

    python -m edgekit.benchmarks.image_quant [--bundle D] [--threads N] [--runs N] [--mobilenet-v3]

Measures, for a MobileNetV2 (alpha 0.35, 96x96x3, random weights, ``weights=None``:
nothing is downloaded), optionally a MobileNetV3-Small, and the digits CNN of an image
bundle (``--bundle D``, else a quick one is trained): the fp32 and full-int8 (uint8 input)
TFLite files that ``edgekit convert`` makes (see ``image_quant_models``), timed at batch 1
and batch 32. Each (file, batch) is one fresh ``tensor_worker`` process, exactly what
``edgekit bench FILE`` runs: ai-edge-litert's default op resolver (XNNPACK) with
``--threads`` threads (default: the ``desktop`` profile, every core), p50 of ``--runs``
individually timed calls of the prepared feed. Both files of a model get the same uint8
pixels (the fp32 file takes them as float 0..255), so their top-1 outputs are compared too.

Printed: file sizes (int8 / fp32), p50 latency per call and per image, int8 / fp32 latency
ratio per model and batch, top-1 agreement, and the machine's load average before and
after (the numbers are only as quiet as the machine). ``--json FILE`` keeps everything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import edgekit
from edgekit.benchmarks.edge import EdgeSettings
from edgekit.benchmarks.image_quant_models import (INPUT_NAME, MobileNetSpec, ModelFiles, digits_files,
                                                   mobilenet_files)
from edgekit.benchmarks.profiles import get_device
from edgekit.benchmarks.tensor_bench import FileBenchOptions, agreement, measure_file
from edgekit.runtime.errors import ConfigError, EdgekitError

TARGET_RATIO = 0.7  # the int8/fp32 latency the issue aims for on MobileNetV2


@dataclass(frozen=True)
class ImageQuantOptions:
    bundle: Path | None = None
    mobilenets: tuple[MobileNetSpec, ...] = (MobileNetSpec(),)
    digits: bool = True
    batches: tuple[int, ...] = (1, 32)
    runs: int = 200
    warmup: int = 20
    threads: int | None = None  # None: the profile's
    profile: str = "desktop"
    calibration_images: int = 200
    seed: int = 0
    keep: Path | None = None  # keep the model files here

    def __post_init__(self) -> None:
        if self.runs < 1 or self.warmup < 0:
            raise ConfigError("--runs must be at least 1 and --warmup at least 0")
        if not self.batches or min(self.batches) < 1:
            raise ConfigError(f"batch sizes must be at least 1, not {list(self.batches)}")
        if self.calibration_images < 1:
            raise ConfigError("--calibration-images must be at least 1")
        if not self.mobilenets and not self.digits:
            raise ConfigError("nothing to measure")


def _feeds(images: np.ndarray, batch: int, folder: Path, name: str) -> Path:
    """``batch`` images (cycled when there are fewer) as one uint8 feed file."""
    rows = images[np.arange(batch) % len(images)]
    path = folder / f"{name}-b{batch}.npz"
    np.savez(path, **{INPUT_NAME: np.ascontiguousarray(rows)})
    return path


def measure_model(files: ModelFiles, options: ImageQuantOptions, folder: Path) -> dict[str, Any]:
    """Every batch of both files of one model, each in a fresh worker process."""
    device = get_device(options.profile)
    device = device if options.threads is None else replace(device, threads=options.threads)
    settings = EdgeSettings(runs=options.runs, warmup=options.warmup, batch_sizes=(), throughput_seconds=0.05)
    tag = files.name.replace(" ", "_").replace("/", "_")
    batches = []
    for batch in options.batches:
        feeds = _feeds(files.images, batch, folder, tag)
        bench = FileBenchOptions(profile=options.profile, threads=options.threads, inputs=feeds, seed=options.seed)
        rows, saved = {}, {}
        for quant, path in (("fp32", files.fp32), ("int8", files.int8)):
            save = folder / f"{tag}-{quant}-b{batch}-out.npz"
            row = measure_file(path, device, settings, bench, save=save)
            row["name"] = quant
            rows[quant] = row
            if row["status"] == "ok":
                saved[quant] = save
        entry: dict[str, Any] = {"batch": batch, "threads": device.threads}
        for quant, row in rows.items():
            entry[quant] = _cell(row, batch)
        if all(r["status"] == "ok" for r in rows.values()):
            entry["int8_over_fp32"] = entry["int8"]["p50_ms"] / entry["fp32"]["p50_ms"]
            agree = agreement(rows["fp32"], rows["int8"], saved)
            entry["top1_agreement"] = agree["argmax_agreement"] if agree else None
            if files.labels is not None:
                entry["accuracy"] = {q: _accuracy(saved[q], files.labels, batch) for q in saved}
        batches.append(entry)
    sizes = {"fp32": files.fp32.stat().st_size, "int8": files.int8.stat().st_size}
    return {"name": files.name, "weights": files.weights, "weights_origin": files.weights_origin,
            "images": files.images_origin, "files": {"fp32": str(files.fp32), "int8": str(files.int8)},
            "size_bytes": sizes, "size_ratio": sizes["int8"] / sizes["fp32"], "gate": files.gate, "batches": batches}


def _cell(row: dict[str, Any], batch: int) -> dict[str, Any]:
    if row["status"] != "ok":
        return {"status": "failed", "error": row["error"]}
    p50 = row["latency_ms"]["p50"]
    return {"status": "ok", "p50_ms": p50, "p90_ms": row["latency_ms"]["p90"], "per_image_ms": p50 / batch,
            "runs": row["latency_ms"]["count"], "backend": row["backend"], "threads": row["threads"],
            "input": row["inputs"][0]["dtype"], "cold_start_ms": row["cold_start_ms"], "peak_rss_mb": row["peak_rss_mb"]}


def _accuracy(saved: Path, labels: np.ndarray, batch: int) -> float | None:
    with np.load(saved, allow_pickle=False) as data:
        scores = next((data[k] for k in data.files if k.startswith("output:")), None)
    if scores is None or scores.ndim != 2:
        return None
    truth = labels[np.arange(batch) % len(labels)]
    return float(np.mean(scores.argmax(axis=1) == truth))


def run_image_quant(options: ImageQuantOptions | None = None, *, log=None) -> dict[str, Any]:
    """Build, convert and measure every model; the report as a dict (see ``format_report``)."""
    options = options or ImageQuantOptions()
    log = log or (lambda message: None)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    started = time.perf_counter()
    models = []
    with tempfile.TemporaryDirectory(prefix="edgekit-image-quant-") as scratch:
        work = Path(options.keep) if options.keep is not None else Path(scratch)
        feeds = Path(scratch) / "feeds"
        feeds.mkdir(parents=True)
        jobs = [("mobilenet", spec) for spec in options.mobilenets] + ([("digits", None)] if options.digits else [])
        for kind, spec in jobs:
            log(f"building and converting {spec.name if spec else 'the digits CNN'} ...")
            if kind == "mobilenet":
                files = mobilenet_files(spec, work, calibration_images=options.calibration_images,
                                        feed_images=max(options.batches), seed=options.seed)
            else:
                files = digits_files(options.bundle, work, feed_images=max(options.batches), seed=options.seed)
            log(f"measuring {files.name} (fp32 and int8, batch {', '.join(map(str, options.batches))}) ...")
            models.append(measure_model(files, options, feeds))
    device = get_device(options.profile)
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "edgekit_version": edgekit.__version__,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_before": load_before, "load_after": os.getloadavg() if hasattr(os, "getloadavg") else None},
        "runtime": _runtime_facts(),
        "settings": {"runs": options.runs, "warmup": options.warmup, "batches": list(options.batches),
                     "threads": options.threads if options.threads is not None else device.threads,
                     "profile": options.profile, "calibration_images": options.calibration_images,
                     "op_resolver": "ai-edge-litert default (XNNPACK delegate)", "seed": options.seed},
        "seconds": time.perf_counter() - started,
        "target": {"int8_over_fp32": TARGET_RATIO, "model": "mobilenet_v2"},
        "models": models,
    }


def _runtime_facts() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return {"ai-edge-litert": version("ai-edge-litert")}
    except PackageNotFoundError:
        return {"ai-edge-litert": None}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_report(report: dict[str, Any]) -> str:
    s, m = report["settings"], report["machine"]
    load = lambda v: "n/a" if v is None else " ".join(f"{x:.2f}" for x in v)  # noqa: E731
    lines = [
        f"LiteRT {report['runtime'].get('ai-edge-litert')} ({s['op_resolver']}), {s['threads']} thread(s), "
        f"{m['cpus']} CPUs; p50 of {s['runs']} timed calls per cell, each file and batch in a fresh process",
        f"load average before {load(m['load_before'])}, after {load(m['load_after'])}",
        "",
        f"{'model':<32} {'weights':>9} {'fp32 KB':>9} {'int8 KB':>9} {'int8/fp32 size':>15}  weights / images",
    ]
    for model in report["models"]:
        sizes = model["size_bytes"]
        lines.append(f"{model['name']:<32} {model['weights']:>9} {sizes['fp32'] / 1024:>9.1f} {sizes['int8'] / 1024:>9.1f} "
                     f"{model['size_ratio']:>15.3f}  {model['weights_origin']} / {model['images']}")
    lines += ["", f"{'model':<32} {'batch':>5} {'fp32 p50 ms':>12} {'int8 p50 ms':>12} {'fp32 ms/img':>12} "
                  f"{'int8 ms/img':>12} {'int8/fp32':>10} {'top-1 agree':>12}"]
    for model in report["models"]:
        for b in model["batches"]:
            fp32, int8 = b["fp32"], b["int8"]
            if fp32["status"] != "ok" or int8["status"] != "ok":
                reason = fp32.get("error") or int8.get("error")
                lines.append(f"{model['name']:<32} {b['batch']:>5} failed: {reason}")
                continue
            lines.append(f"{model['name']:<32} {b['batch']:>5} {fp32['p50_ms']:>12.3f} {int8['p50_ms']:>12.3f} "
                         f"{fp32['per_image_ms']:>12.4f} {int8['per_image_ms']:>12.4f} {b['int8_over_fp32']:>10.2f} "
                         f"{_fmt(b.get('top1_agreement'), 3):>12}")
    target = report["target"]
    verdicts = [f"{b['int8_over_fp32']:.2f} at batch {b['batch']}" for model in report["models"]
                if model["name"].startswith(target["model"]) for b in model["batches"] if "int8_over_fp32" in b]
    if verdicts:
        lines += ["", f"MobileNetV2 int8/fp32 latency: {', '.join(verdicts)} (aim: <= {target['int8_over_fp32']})"]
    lines.append("Random-weight MobileNets: top-1 agreement is not meaningful; latency and size are.")
    return "\n".join(lines)


def _spec_list(args) -> tuple[MobileNetSpec, ...]:
    if args.no_mobilenet:
        return ()
    specs = [MobileNetSpec("mobilenet_v2", args.alpha, args.size)]
    if args.mobilenet_v3:
        specs.append(MobileNetSpec("mobilenet_v3_small", args.v3_alpha, args.size))
    return tuple(specs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgekit.benchmarks.image_quant", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=None, help="image bundle with the digits CNN (default: train a quick one)")
    parser.add_argument("--threads", type=int, default=None, help="LiteRT threads (default: every core)")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per file and batch")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batches", default="1,32", help="comma-separated batch sizes")
    parser.add_argument("--alpha", type=float, default=0.35, help="MobileNetV2 width multiplier")
    parser.add_argument("--size", type=int, default=96, help="MobileNet input side in pixels")
    parser.add_argument("--mobilenet-v3", action="store_true", help="also a MobileNetV3-Small row")
    parser.add_argument("--v3-alpha", type=float, default=0.75, help="MobileNetV3-Small width multiplier")
    parser.add_argument("--no-mobilenet", action="store_true", help="only the digits CNN")
    parser.add_argument("--calibration-images", type=int, default=200, help="synthetic images calibrating the MobileNets")
    parser.add_argument("--keep", type=Path, default=None, help="keep the model files in this folder")
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    args = parser.parse_args(argv)
    try:
        batches = tuple(int(b) for b in args.batches.split(",") if b.strip())
        options = ImageQuantOptions(bundle=args.bundle, mobilenets=_spec_list(args), batches=batches, runs=args.runs,
                                    warmup=args.warmup, threads=args.threads,
                                    calibration_images=args.calibration_images, keep=args.keep)
        report = run_image_quant(options, log=lambda message: print(message, file=sys.stderr, flush=True))
    except (EdgekitError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
