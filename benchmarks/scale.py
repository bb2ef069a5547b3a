"""Batch scoring at scale: one process vs Dask with 1 and 2 workers, side by side in one run.

    python -m edgekit.benchmarks.scale --rows 20000000 [--model M.onnx] [--files 8] [--repeat 3] [--json out.json]

Generates an Auto-MPG-like Parquet dataset (rows drawn from the embedded Auto MPG data with
a little noise, ``--files`` files) and the same rows as one CSV, then scores them with:

- ``edgekit predict`` on the CSV (today's single-process streaming command, 1 backend thread),
- the scale scorer on the Parquet files in one process without Dask (the workers' very
  reader, scorer and writer: what remains between it and 1 worker is Dask's own cost),
- ``score_to_parquet`` on a LocalCluster with 1 worker and with 2 workers (1 thread each).

Each mode runs in a fresh process; cluster start-up is timed apart from the job; with
``--repeat K`` the Parquet modes run K times, interleaved, and the fastest run of each counts
(the machine may be shared: the load average is printed beside the numbers). Prints
rows/s, peak RSS per worker and the issue-13 ratios: 2 workers >= 1.6x 1 worker, 1 worker
>= 0.8x single-process, per-worker peak RSS < 300 MB (meaningful from 20 million rows).

The same run then times the model search on the same job list locally and on a 2-worker
LocalCluster (``edgekit.benchmarks.scale_search``; ``--no-search`` skips it, ``--search-only``
runs only it) and prints both wall times, their ratio and whether the winners agree.

Without ``--model`` a small SVR is trained on the embedded Auto MPG data and exported to
ONNX (edgekit.train + edgekit.convert, about 15 s).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgekit.benchmarks.scale_search import DEFAULT_MODELS as DEFAULT_SEARCH_MODELS
from edgekit.benchmarks.scale_search import measure_search, render_search

FEATURES = ["cylinders", "displacement", "horsepower", "weight", "acceleration", "model_year", "origin"]
TARGETS = {"rows_per_s_2_vs_1_worker": 1.6, "rows_per_s_1_worker_vs_single": 0.8, "worker_peak_rss_mb": 300}


# --------------------------------------------------------------------------- data and model
def auto_mpg_like(rows: int, seed: int) -> "pandas.DataFrame":  # noqa: F821
    """Rows resampled from the embedded Auto MPG data, numeric columns jittered by 2 % of
    their spread (missing horsepower kept missing), with an id column."""
    import numpy as np
    import pandas as pd

    from edgekit.train import load_dataset

    base = load_dataset("auto-mpg").frame[FEATURES + ["mpg"]].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    frame = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    for name in ("displacement", "horsepower", "weight", "acceleration", "mpg"):
        column = frame[name].to_numpy(dtype=np.float64)
        frame[name] = column + rng.normal(0, 0.02 * np.nanstd(base[name]), rows)
    frame.insert(0, "row_id", np.arange(rows, dtype=np.int64) + seed * rows)
    return frame


def write_dataset(folder: Path, rows: int, files: int, *, csv_path: Path | None) -> None:
    """``files`` Parquet files (row groups of 128k rows) and, if asked, the same rows as one CSV."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    writer = None
    per_file = -(-rows // files)
    try:
        for i in range(files):
            n = min(per_file, rows - i * per_file)
            if n <= 0:
                break
            table = pa.Table.from_pandas(auto_mpg_like(n, seed=i), preserve_index=False)
            pq.write_table(table, folder / f"cars-{i:03d}.parquet", row_group_size=131_072)
            if csv_path is not None:
                writer = writer or pacsv.CSVWriter(csv_path, table.schema)
                writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def small_model(folder: Path) -> Path:
    from edgekit.convert import ConvertOptions, convert
    from edgekit.train import TrainConfig, train

    bundle = train("auto-mpg", TrainConfig(target="mpg", models=("svm",), quick=True, cv=2), n_jobs=1,
                   show_progress=False).save(folder / "bundle")
    convert(bundle, folder / "bundle" / "exports", ConvertOptions(formats=("onnx",), quantizations=("fp32",)),
            show_progress=False)
    return folder / "bundle" / "exports" / "onnx-fp32" / "model.onnx"


# --------------------------------------------------------------------------- the modes (child processes)
def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not getrusage's ru_maxrss: that keeps the high-water
    mark of the parent it was forked from, which here is a large benchmark driver."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_single_parquet(model: str, source: str, out: str, batch_size: int) -> dict:
    """The workers' reader and scorer, piece after piece in this one process: no Dask."""
    import hashlib

    from edgekit.scale.output import prepare_output
    from edgekit.scale.plan import plan_input
    from edgekit.scale.worker import Job, score_piece

    started = time.perf_counter()
    plan = plan_input(source, required=("row_id", "mpg"))
    sha256 = hashlib.sha256(Path(model).read_bytes()).hexdigest()
    prepare_output(Path(out), {"run": "single"}, plan.pieces, force=True)
    job = Job(model, sha256, out, "single", threads=1, id_column="row_id", passthrough=("mpg",), batch_size=batch_size)
    rows = 0
    for piece in plan.pieces:
        summary = score_piece(piece, job)
        if "failure" in summary:
            raise summary["failure"].rebuild()
        rows += summary["rows"]
    return {"rows": rows, "seconds": time.perf_counter() - started, "peak_rss_mb": [_peak_rss_mb()], "cpu_s": _cpu_s()}


def run_dask(model: str, source: str, out: str, batch_size: int, workers: int) -> dict:
    import logging

    from distributed import Client, LocalCluster

    from edgekit.scale import score_to_parquet

    started = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        startup = time.perf_counter() - started
        result = score_to_parquet(model, source, out, scheduler=cluster.scheduler_address, id_column="row_id",
                                  passthrough=("mpg",), batch_size=batch_size, force=True, show_progress=False)
        rss = sorted(client.run(_peak_rss_mb).values())
        cpu = sum(client.run(_cpu_s).values())
    return {"rows": result.rows, "seconds": result.seconds, "startup_s": startup, "peak_rss_mb": rss, "cpu_s": cpu,
            "driver_peak_rss_mb": _peak_rss_mb()}


CSV_CHILD = r"""
import json, sys
from edgekit.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code or 0
from edgekit.benchmarks.scale import _cpu_s, _peak_rss_mb
print(json.dumps({"code": code, "peak_rss_mb": _peak_rss_mb(), "cpu_s": _cpu_s()}), file=sys.stderr)
"""


def run_single_csv(model: str, source: str, out: str, batch_size: int) -> dict:
    """Today's `edgekit predict` on a CSV, in its own process."""
    args = [sys.executable, "-c", CSV_CHILD, "predict", model, source, "--out", out, "--id-column", "row_id",
            "--passthrough", "mpg", "--batch-size", str(batch_size), "--threads", "1"]
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "EDGEKIT_PROGRESS": "0"})
    seconds = time.perf_counter() - started
    child = json.loads(done.stderr.strip().splitlines()[-1])
    if child["code"]:
        raise SystemExit(f"edgekit predict failed: {done.stderr[-2000:]}")
    with open(out, "rb") as handle:
        rows = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")) - 1
    return {"rows": rows, "seconds": seconds, "peak_rss_mb": [child["peak_rss_mb"]], "cpu_s": child["cpu_s"]}


def _child(mode: str, **kwargs) -> dict:
    """Run one mode in a fresh interpreter and read its JSON result."""
    code = ("import json, sys\nfrom edgekit.benchmarks import scale\n"
            f"print(json.dumps(scale.{mode}(**json.loads(sys.argv[1]))))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], capture_output=True, text=True,
                          env={**os.environ, "EDGEKIT_PROGRESS": "0"})
    if done.returncode:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- driver
def measure(rows: int, *, files: int, model: Path | None, workdir: Path, batch_size: int, csv: bool = True,
            repeat: int = 1) -> dict:
    """Every mode on the same data; the Parquet modes ``repeat`` times, interleaved, keeping
    each mode's fastest run (on a shared machine, the run least disturbed by other work)."""
    model = model or small_model(workdir / "model")
    data, table = workdir / "parquet", workdir / "rows.csv"
    started = time.perf_counter()
    write_dataset(data, rows, files, csv_path=table if csv else None)
    generated = time.perf_counter() - started
    common = {"model": str(model), "batch_size": batch_size}
    runs: dict[str, list[dict]] = {}
    if csv:
        runs["single-process edgekit predict (CSV)"] = [run_single_csv(source=str(table), out=str(workdir / "single.csv"),
                                                                       **common)]
    for _ in range(repeat):
        runs.setdefault("single-process scale scorer (Parquet, no Dask)", []).append(_child(
            "run_single_parquet", source=str(data), out=str(workdir / "single-parquet"), **common))
        for n in (1, 2):
            runs.setdefault(f"Dask LocalCluster, {n} worker{'s' if n > 1 else ''}", []).append(_child(
                "run_dask", source=str(data), out=str(workdir / f"dask-{n}"), workers=n, **common))
    modes = {}
    for name, results in runs.items():
        for result in results:
            result["rows_per_s"] = result["rows"] / result["seconds"]
            result["rows_per_cpu_s"] = result["rows"] / result["cpu_s"]
        modes[name] = {**max(results, key=lambda r: r["rows_per_s"]),
                       "all_rows_per_s": [round(r["rows_per_s"]) for r in results]}
    return {"rows": rows, "files": files, "batch_size": batch_size, "model": str(model), "generate_s": generated,
            "repeat": repeat, "load_average": os.getloadavg(), "cpus": os.cpu_count(), "modes": modes,
            "ratios": _ratios(modes)}


def _ratios(modes: dict) -> dict:
    one, two = modes["Dask LocalCluster, 1 worker"], modes["Dask LocalCluster, 2 workers"]
    single = modes.get("single-process edgekit predict (CSV)")
    parquet = modes["single-process scale scorer (Parquet, no Dask)"]
    ratios = {
        "rows_per_s_2_vs_1_worker": two["rows_per_s"] / one["rows_per_s"],
        "rows_per_s_1_worker_vs_single_parquet": one["rows_per_s"] / parquet["rows_per_s"],
        "rows_per_cpu_s_1_worker_vs_single_parquet": one["rows_per_cpu_s"] / parquet["rows_per_cpu_s"],
        "worker_peak_rss_mb": max(one["peak_rss_mb"] + two["peak_rss_mb"]),
    }
    if single is not None:
        ratios["rows_per_s_1_worker_vs_single"] = one["rows_per_s"] / single["rows_per_s"]
    return ratios


def render(report: dict) -> str:
    lines = [f"{report['rows']:,} rows in {report['files']} Parquet files, batch {report['batch_size']}, "
             f"{report['cpus']} CPUs, load average {', '.join(f'{v:.2f}' for v in report['load_average'])}",
             f"{'mode':<50} {'rows/s':>12} {'seconds':>9} {'rows/CPU-s':>12} {'peak RSS per process (MB)':>28}"]
    for name, result in report["modes"].items():
        rss = ", ".join(f"{v:.0f}" for v in result["peak_rss_mb"])
        startup = f"  (+{result['startup_s']:.1f} s cluster start)" if "startup_s" in result else ""
        every = f"  runs: {', '.join(f'{v:,}' for v in result['all_rows_per_s'])}" if len(result["all_rows_per_s"]) > 1 else ""
        lines.append(f"{name:<50} {result['rows_per_s']:>12,.0f} {result['seconds']:>9.1f} "
                     f"{result['rows_per_cpu_s']:>12,.0f} {rss:>28}{startup}{every}")
    lines.append("")
    for key, value in report["ratios"].items():
        target = TARGETS.get(key)
        verdict = ""
        if target is not None:
            ok = value < target if key.endswith("_mb") else value >= target
            verdict = f"  target {'<' if key.endswith('_mb') else '>='} {target}: {'met' if ok else 'NOT met'}"
        lines.append(f"{key:<40} {value:>8.2f}{verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--model", type=Path, default=None, help="a tabular export (default: train a small SVR)")
    parser.add_argument("--batch-size", type=int, default=16_384)
    parser.add_argument("--no-csv", action="store_true", help="skip the single-process CSV run (and writing the CSV)")
    parser.add_argument("--repeat", type=int, default=1, help="run the Parquet modes this often, interleaved; keep the best")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the data here (default: a temp folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    search = parser.add_argument_group("search timing (local vs a 2-worker cluster)")
    search.add_argument("--no-search", action="store_true", help="skip the search timing")
    search.add_argument("--search-only", action="store_true", help="time only the search (no batch scoring)")
    search.add_argument("--search-data", default="auto-mpg", help="a bundled dataset name or a CSV/Parquet file")
    search.add_argument("--search-target", default="mpg")
    search.add_argument("--search-models", default=",".join(DEFAULT_SEARCH_MODELS))
    search.add_argument("--search-cv", type=int, default=5)
    search.add_argument("--search-quick", action="store_true", help="the quick grids")
    search.add_argument("--search-jobs", type=int, default=2, help="local pool size (default: 2, the cluster's workers)")
    args = parser.parse_args(argv)
    report = {}
    if not args.search_only:
        with tempfile.TemporaryDirectory(prefix="edgekit-scale-") as tmp:
            workdir = args.workdir or Path(tmp)
            report = measure(args.rows, files=args.files, model=args.model, workdir=workdir, batch_size=args.batch_size,
                             csv=not args.no_csv, repeat=args.repeat)
        print(render(report))
    if not args.no_search:
        report["search"] = measure_search(data=args.search_data, target=args.search_target,
                                          models=tuple(args.search_models.split(",")), cv=args.search_cv,
                                          quick=args.search_quick, workers=2, n_jobs=args.search_jobs)
        print(("\n" if not args.search_only else "") + render_search(report["search"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
