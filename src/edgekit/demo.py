"""``edgekit demo``: the whole lifecycle on the embedded Auto MPG data, end to end.

prepare → search SVM, random forest, boosting, linear and a Keras network with k-fold CV →
select by RMSE → test metrics → export (TFLite fp32/fp16/dynamic/int8, ONNX fp32/int8) with
the parity gate → predict on-device with the edgekit runtime → benchmark on-device against
the cloud REST baseline → report.md, report.html, bench.json.

TFLite takes neural networks only: when another family wins, the best network is exported
too (and said so), so the device comparison always includes a .tflite.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import ConfigError

DATASET, TARGET = "auto-mpg", "mpg"


@dataclass
class DemoResult:
    out: Path
    card: dict[str, Any]
    alternative_card: dict[str, Any] | None
    conversions: list[dict[str, Any]]
    predictions: list[dict[str, Any]]
    bench: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


def default_out() -> Path:
    return Path("edgekit-runs") / datetime.now().strftime("%Y%m%d-%H%M%S")


def new_run_folder(out: Path | None) -> Path:
    """The demo's output folder, created; an existing one is refused (a demo never overwrites a run)."""
    out = Path(out) if out is not None else default_out()
    if out.exists():
        raise ConfigError(f"{out} already exists; a demo never overwrites an earlier run", hint="choose another --out")
    out.mkdir(parents=True)
    return out


def run_demo(out: Path | None = None, *, quick: bool = False, cloud: bool = True, show_progress: bool | None = None) -> DemoResult:
    from edgekit.benchmarks.api import BenchOptions, run_bench
    from edgekit.convert import ConvertOptions, convert
    from edgekit.demo_report import write_demo_reports
    from edgekit.train import TrainConfig, train

    out = new_run_folder(out)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    config = TrainConfig(target=TARGET, split="tutorial", quick=quick, cv=3 if quick else 5)
    result = train(DATASET, config, show_progress=show_progress)
    bundles = [result.save(out / "model")]
    alternative = None
    if result.card.winner["name"] != "nn":
        alternative = result.alternative("nn", show_progress=show_progress)
        bundles.append(alternative.save(out / "model-nn"))
    seconds["train"] = time.perf_counter() - started

    started = time.perf_counter()
    options = ConvertOptions(quantizations=("fp32", "fp16", "dynamic", "int8"))
    conversions = [convert(bundle, options=options, show_progress=show_progress) for bundle in bundles]
    seconds["convert"] = time.perf_counter() - started

    started = time.perf_counter()
    predictions = predict_on_device(conversions, out / "model" / "data" / "test.csv")
    seconds["predict"] = time.perf_counter() - started

    started = time.perf_counter()
    bench = run_bench(bundles[0], BenchOptions(exports=tuple(Path(c.out) for c in conversions), quick=quick, cloud=cloud),
                      show_progress=show_progress)
    seconds["bench"] = time.perf_counter() - started

    demo = DemoResult(out, result.card.to_dict(), alternative.card.to_dict() if alternative else None,
                      [c.to_dict() for c in conversions], predictions, bench, seconds)
    write_demo_reports(demo)
    return demo


def predict_on_device(conversions, test_csv: Path, rows: int = 5) -> list[dict[str, Any]]:
    """Run every passing export with the edgekit runtime on the first test rows."""
    from edgekit.runtime import load
    from edgekit.runtime.io import CsvChunks

    chunks = CsvChunks(test_csv, size=rows)
    header, sample = chunks.header, next(iter(chunks))
    chunks.close()
    records = [dict(zip(header, r)) for r in sample]
    features = [{k: (v or None) for k, v in r.items() if k != TARGET} for r in records]
    out = []
    for conversion in conversions:
        for export in conversion.exports:
            model = load(Path(conversion.out) / export.path)
            values = model.predict(features).values
            out.append({"export": f"{conversion.source['family']}/{export.name}", "backend": model.backend.name,
                        "predictions": [round(float(v), 3) for v in values]})
    out.insert(0, {"export": "actual", "backend": "-", "predictions": [float(r[TARGET]) for r in records]})
    return out
