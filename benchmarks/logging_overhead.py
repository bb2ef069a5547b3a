"""What the SQLite prediction log costs ``Model.predict``, measured side by side in one run.

    python -m edgekit.benchmarks.logging_overhead --model exports/onnx-fp32/model.onnx
    python -m edgekit.benchmarks.logging_overhead --demo     # trains + exports a quick Auto MPG model

``--model`` takes any export ``edgekit convert`` wrote (.onnx or .tflite with its
manifest); ``--demo`` builds one in a temp folder (needs ``edgekit[convert]``). Input
rows are drawn from the manifest's schema (numeric ranges, categories), or read from
``--data CSV``.

Two numbers, each with and without a log, interleaved in blocks so drift hits both:

* batch 1: median ``predict`` latency and the ratio logged / plain (target <= 1.25);
* batch mode (``--batch`` rows per call): the extra µs per row on the hot path (median
  call), and end to end including the SQLite inserts (total time of all calls plus the
  final ``close()``) (target <= 5 µs/row).

Wall-clock figures need a quiet machine; the CPU time logging adds (process time, all
threads) is also printed because it stays meaningful when other processes share the CPUs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

TARGET_RATIO = 1.25
TARGET_US_PER_ROW = 5.0


def synthetic_rows(schema, n: int, seed: int = 0) -> dict[str, list[Any]]:
    """``n`` rows drawn uniformly from each feature's training range or categories."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[Any]] = {}
    for f in schema:
        if f.categories:
            rows[f.name] = [f.categories[i] for i in rng.integers(0, len(f.categories), n)]
        else:
            low = f.min if f.min is not None else 0.0
            high = f.max if f.max is not None else 1.0
            values = rng.uniform(low, high, n)
            rows[f.name] = np.round(values).tolist() if f.dtype == "int" else np.round(values, 2).tolist()
    return rows


def csv_rows(path: Path, schema, n: int) -> dict[str, list[Any]]:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    if not records:
        raise SystemExit(f"{path}: no rows")
    picked = [records[i % len(records)] for i in range(n)]
    return {f.name: [r[f.name] for r in picked] for f in schema}


def _slice(rows: dict[str, list[Any]], n: int) -> dict[str, list[Any]]:
    return {k: v[:n] for k, v in rows.items()}


def _time_calls(model, rows, calls: int, cpu: dict[str, float] | None = None, name: str = "") -> list[float]:
    out = []
    clock = time.perf_counter
    cpu_start = time.process_time()
    for _ in range(calls):
        start = clock()
        model.predict(rows)
        out.append(clock() - start)
    if cpu is not None:
        cpu[name] += time.process_time() - cpu_start
    return out


def measure(model_path: Path, *, batch: int, rounds: int, calls: int, batch_calls: int, data: Path | None, log_dir: Path,
            threads: int = 1) -> dict[str, Any]:
    from edgekit.runtime import load

    plain = load(model_path, threads=threads)
    logged = load(model_path, log=log_dir / "predictions.db", threads=threads)
    rows = csv_rows(data, plain.schema, batch) if data else synthetic_rows(plain.schema, batch)
    one = _slice(rows, 1)
    for model in (plain, logged):  # warm up both paths (backend, encoder, flusher thread)
        _time_calls(model, one, 200)
        _time_calls(model, rows, 5)
    single = {"plain": [], "logged": []}
    many = {"plain": [], "logged": []}
    totals = {"plain": 0.0, "logged": 0.0}
    cpu_single = {"plain": 0.0, "logged": 0.0}
    cpu_many = {"plain": 0.0, "logged": 0.0}
    for _ in range(rounds):
        for name, model in (("plain", plain), ("logged", logged)):
            logged.logger.flush()  # batch-1 rows must not be charged to batch mode
            single[name] += _time_calls(model, one, calls, cpu_single, name)
            logged.logger.flush()
            times = _time_calls(model, rows, batch_calls, cpu_many, name)
            many[name] += times
            totals[name] += sum(times)
    start, cpu_start = time.perf_counter(), time.process_time()
    logged.close()  # the rows still buffered are part of the cost
    totals["logged"] += time.perf_counter() - start
    cpu_many["logged"] += time.process_time() - cpu_start
    plain.close()
    stats = logged.logger.stats
    n_batch_rows = rounds * batch_calls * batch
    b1_plain, b1_logged = statistics.median(single["plain"]), statistics.median(single["logged"])
    bn_plain, bn_logged = statistics.median(many["plain"]), statistics.median(many["logged"])
    return {
        "model": str(model_path),
        "backend": plain.backend.name,
        "features": len(plain.schema),
        "threads": threads,
        "batch1_plain_us": b1_plain * 1e6,
        "batch1_logged_us": b1_logged * 1e6,
        "batch1_ratio": b1_logged / b1_plain,
        "batch1_p99_logged_us": float(np.percentile(single["logged"], 99)) * 1e6,
        "batch1_p99_plain_us": float(np.percentile(single["plain"], 99)) * 1e6,
        "batch": batch,
        "batch_plain_us_per_row": bn_plain / batch * 1e6,
        "batch_hot_path_us_per_row": (bn_logged - bn_plain) / batch * 1e6,
        "batch_end_to_end_us_per_row": (totals["logged"] - totals["plain"]) / n_batch_rows * 1e6,
        # CPU time of the whole process (all threads): robust when other processes share the CPUs
        "batch1_cpu_us_per_call": (cpu_single["logged"] - cpu_single["plain"]) / (rounds * calls) * 1e6,
        "batch_cpu_us_per_row": (cpu_many["logged"] - cpu_many["plain"]) / n_batch_rows * 1e6,
        "rows_logged": stats["written"],
        "log_errors": stats["last_error"],
    }


def demo_export(folder: Path) -> Path:
    """Train a quick SVM on Auto MPG and export it to ONNX fp32 (needs edgekit[convert])."""
    from edgekit.convert import ConvertOptions, convert
    from edgekit.train import TrainConfig, train

    result = train("auto-mpg", TrainConfig(target="mpg", models=("svm",), quick=True, cv=3), n_jobs=1, show_progress=False)
    bundle = result.save(folder / "bundle")
    convert(bundle, folder / "exports", ConvertOptions(formats=("onnx",), quantizations=("fp32",)), show_progress=False)
    return folder / "exports" / "onnx-fp32" / "model.onnx"


def report(result: dict[str, Any]) -> str:
    ok1 = "ok" if result["batch1_ratio"] <= TARGET_RATIO else "OVER TARGET"
    okn = "ok" if result["batch_end_to_end_us_per_row"] <= TARGET_US_PER_ROW else "OVER TARGET"
    return "\n".join([
        f"logging overhead: {result['model']} ({result['backend']}, {result['threads']} thread(s), {result['features']} features)",
        f"  batch 1    median predict  {result['batch1_plain_us']:8.1f} µs plain  {result['batch1_logged_us']:8.1f} µs logged"
        f"  ratio {result['batch1_ratio']:.3f}  (target <= {TARGET_RATIO}: {ok1})",
        f"             p99             {result['batch1_p99_plain_us']:8.1f} µs plain  {result['batch1_p99_logged_us']:8.1f} µs logged",
        f"  batch {result['batch']:<4} predict {result['batch_plain_us_per_row']:.2f} µs/row plain; logging adds"
        f" {result['batch_hot_path_us_per_row']:.2f} µs/row on the hot path,"
        f" {result['batch_end_to_end_us_per_row']:.2f} µs/row with the SQLite writes  (target <= {TARGET_US_PER_ROW}: {okn})",
        f"  CPU time logging adds (all threads): {result['batch1_cpu_us_per_call']:.2f} µs per batch-1 call,"
        f" {result['batch_cpu_us_per_row']:.2f} µs/row in batch mode",
        f"  rows logged: {result['rows_logged']}" + (f"  last error: {result['log_errors']}" if result["log_errors"] else ""),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgekit.benchmarks.logging_overhead", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="an export written by 'edgekit convert' (.onnx / .tflite)")
    source.add_argument("--demo", action="store_true", help="train and export a quick Auto MPG model in a temp folder")
    parser.add_argument("--data", type=Path, default=None, help="CSV with the model's feature columns (default: synthetic rows)")
    parser.add_argument("--batch", type=int, default=1000, help="rows per call in batch mode (default 1000)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    parser.add_argument("--calls", type=int, default=500, help="batch-1 calls per round and variant (default 500)")
    parser.add_argument("--batch-calls", type=int, default=20, help="batch calls per round and variant (default 20)")
    parser.add_argument("--threads", type=int, default=1,
                        help="backend threads (default 1: no idle worker threads spinning on the CPU-time figures)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edgekit-logbench-") as tmp:
        model = demo_export(Path(tmp)) if args.demo else args.model
        if not Path(model).is_file():
            parser.error(f"{model}: no such model file")
        result = measure(Path(model), batch=args.batch, rounds=args.rounds, calls=args.calls,
                         batch_calls=args.batch_calls, data=args.data, log_dir=Path(tmp), threads=args.threads)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
