"""The scale benchmark's harness on a tiny run: every mode scores every row, and the modes agree."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def test_scale_benchmark_runs_every_mode_on_the_same_rows(svm_input, scale_tools, tmp_path):
    report_path, workdir = tmp_path / "scale.json", tmp_path / "work"
    done = subprocess.run([sys.executable, "-m", "edgekit.benchmarks.scale", "--rows", "3000", "--files", "3",
                           "--model", str(svm_input.model), "--batch-size", "512", "--workdir", str(workdir),
                           "--json", str(report_path), "--no-search"], capture_output=True, text=True, env=scale_tools.env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert set(report["modes"]) == {"single-process edgekit predict (CSV)", "single-process scale scorer (Parquet, no Dask)",
                                    "Dask LocalCluster, 1 worker", "Dask LocalCluster, 2 workers"}
    assert all(mode["rows"] == 3000 for mode in report["modes"].values())
    assert len(report["modes"]["Dask LocalCluster, 2 workers"]["peak_rss_mb"]) == 2
    assert all(0 < rss < 10_000 for mode in report["modes"].values() for rss in mode["peak_rss_mb"])
    assert {"rows_per_s_2_vs_1_worker", "rows_per_s_1_worker_vs_single", "worker_peak_rss_mb"} <= set(report["ratios"])
    for line in ("rows_per_s_2_vs_1_worker", "worker_peak_rss_mb", "load average"):
        assert line in done.stdout
    # Same rows, same model, same batching: every mode gives the same predictions.
    with open(workdir / "single.csv", newline="") as handle:
        single = {int(r["row_id"]): r["prediction"] for r in csv.DictReader(handle)}
    assert len(single) == 3000
    for folder in ("single-parquet", "dask-1", "dask-2"):
        parts = pd.read_parquet(workdir / folder)
        assert {int(i): f"{v:.9g}" for i, v in zip(parts["row_id"], parts["prediction"])} == single


def test_search_timing_runs_the_same_job_list_locally_and_on_two_workers(scale_tools, tmp_path):
    report_path = tmp_path / "search.json"
    done = subprocess.run([sys.executable, "-m", "edgekit.benchmarks.scale", "--search-only", "--search-models", "linear,svm",
                           "--search-quick", "--search-cv", "2", "--search-jobs", "1", "--json", str(report_path)],
                          capture_output=True, text=True, env=scale_tools.env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    search = json.loads(report_path.read_text())["search"]
    local, cluster = search["local"], search["cluster"]
    assert local["fits"] == cluster["fits"] == 2 * (3 + 4)  # linear 3 and svm 4 quick settings, 2 folds each
    assert search["same_winner_and_leaderboard"] and search["max_cv_mean_difference"] == 0
    assert search["cluster_vs_local_wall_time"] == cluster["seconds"] / local["seconds"]
    for line in ("cluster / local wall time", "same winner and leaderboard: yes", "2 workers x 1 thread", "load average"):
        assert line in done.stdout
