"""The on-device measurement, run in a fresh process per export.

Imports only the standard library, numpy and ``edgekit.runtime`` (as a device would), so
the cold start and peak RSS are the runtime's own. Prints one JSON object on stdout.

Cold start is wall time from the parent's spawn (``--t0``) through interpreter start,
``import edgekit.runtime``, ``load`` and the first prediction.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time


def _rss_mb() -> float:
    """Peak RSS of this process image. Linux keeps ru_maxrss across exec (a child forked
    from a large parent reports the parent's size), so read VmHWM where it exists."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed_calls(fn, arg, runs: int) -> list[float]:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(runs):
        start = clock()
        fn(arg)
        samples.append((clock() - start) / 1e6)
    return samples


def _throughput(fn, arg, rows: int, seconds: float) -> float:
    calls, started = 0, time.perf_counter()
    while True:
        fn(arg)
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds and calls >= 3:
            return calls * rows / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--test", required=True, help="CSV with the features and the target column")
    parser.add_argument("--row", required=True, help="JSON object: the first row to predict")
    parser.add_argument("--t0", type=float, required=True, help="parent's time.time() at spawn")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cpus", default="")
    parser.add_argument("--batch-sizes", default="1,32,1024")
    parser.add_argument("--throughput-seconds", type=float, default=0.5)
    args = parser.parse_args(argv)

    if args.cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    row = json.loads(args.row)

    t_main = time.time()
    started = time.perf_counter()
    from edgekit.runtime import load

    import_ms = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    model = load(args.model, threads=args.threads)
    load_ms = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    model.predict([row])
    first_ms = (time.perf_counter() - started) * 1e3
    cold_start_ms = (time.time() - args.t0) * 1e3
    cold_rss = _rss_mb()

    import numpy as np

    from edgekit.benchmarks.task_metrics import score
    from edgekit.runtime.inputs import to_columns, to_matrix
    from edgekit.runtime.io import CsvChunks

    chunks = CsvChunks(args.test, size=1 << 30)
    header, rows = chunks.header, next(iter(chunks))
    table = {name: np.asarray([r[i] for r in rows], dtype=object) for i, name in enumerate(header)}
    target = model.manifest.target
    features = {name: table[name] for name in model.schema.names}
    columns = to_columns(features, model.schema)

    validated = _timed_calls(model.predict, [row], args.warmup)  # warm-up
    validated = _timed_calls(model.predict, [row], args.runs)
    hot_path = model.schema.all_numeric
    matrix = to_matrix(columns, model.schema)
    if hot_path:
        run_batch, encoded = model.predict_array, matrix
        _timed_calls(run_batch, encoded[:1], args.warmup)
        hot = _timed_calls(run_batch, encoded[:1], args.runs)
    else:
        run_batch, encoded, hot = None, None, None

    throughput = {}
    for size in (int(b) for b in args.batch_sizes.split(",")):
        reps = -(-size // len(matrix))
        if hot_path:
            batch = np.tile(encoded, (reps, 1))[:size]
            throughput[str(size)] = _throughput(run_batch, batch, size, args.throughput_seconds)
        else:
            batch = {k: np.tile(v, reps)[:size] for k, v in features.items()}
            throughput[str(size)] = _throughput(model.predict, batch, size, args.throughput_seconds)

    prediction = model.predict(features)
    metric = score(model.task, table[target], prediction, model.labels)
    result = {
        "python_start_ms": (t_main - args.t0) * 1e3,
        "import_ms": import_ms,
        "load_ms": load_ms,
        "first_prediction_ms": first_ms,
        "cold_start_ms": cold_start_ms,
        "cold_peak_rss_mb": cold_rss,
        "peak_rss_mb": _rss_mb(),
        "latency_samples_ms": validated,
        "hot_path_samples_ms": hot,
        "throughput_rows_per_s": throughput,
        "metric": metric,
        "backend": model.backend.name,
        "threads": args.threads,
        "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "heavy_modules": sorted(m for m in ("tensorflow", "keras", "sklearn", "pandas", "scipy") if m in sys.modules),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
