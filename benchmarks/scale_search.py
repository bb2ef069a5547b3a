"""The search half of the scale benchmark: one job list, run locally and on a 2-worker cluster.

Both runs prepare the same data and run :func:`edgekit.train.search.run_search` with the same
candidates, folds and seed, each in a fresh process; only the search is timed (the refit of
the winner is the same local step either way). Locally the scikit-learn fits use a joblib
pool of ``--search-jobs`` workers and the Keras fits run in the driver, as `edgekit train`
does; on the cluster every fit, the networks' included, is one task on a LocalCluster of
``workers`` processes with one thread each. Reported: both wall times, their ratio, and
whether the leaderboards (winner, parameters, CV means) are the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

DEFAULT_MODELS = ("linear", "svm", "rf", "hgb", "nn")


def run_search_child(data: str, target: str, models: list[str], cv: int, quick: bool, workers: int | None,
                     n_jobs: int) -> dict:
    """One timed search in this process: local when ``workers`` is None, else on a LocalCluster."""
    import logging

    from edgekit.train import TrainConfig
    from edgekit.train.api import _prepare  # the very preparation `edgekit train` runs before its search
    from edgekit.train.candidates import select_candidates
    from edgekit.train.metrics import get_metric
    from edgekit.train.search import pick_winner, run_search

    config = TrainConfig(target=target, models=tuple(models), quick=quick, cv=cv)
    prepared = _prepare(data, config)
    metric = get_metric(None, prepared.task)
    candidates = select_candidates(models)
    common = dict(task=prepared.task, schema=prepared.schema, metric=metric, cv=cv, seed=config.seed, quick=quick)
    if workers is None:
        started = time.perf_counter()
        results = run_search(candidates, prepared.x_train, prepared.y_train, n_jobs=n_jobs, **common)
        seconds, startup = time.perf_counter() - started, None
    else:
        from distributed import Client, LocalCluster

        started = time.perf_counter()
        with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            client.wait_for_workers(workers)
            startup = time.perf_counter() - started
            started = time.perf_counter()
            results = run_search(candidates, prepared.x_train, prepared.y_train, client=client, **common)
            seconds = time.perf_counter() - started
    winner = pick_winner(results, metric)
    return {
        "seconds": seconds, "startup_s": startup, "metric": metric.name, "rows": int(len(prepared.y_train)),
        "fits": sum(len(t.fit_seconds) for r in results for t in r.trials),
        "winner": winner.name, "winner_params": winner.to_dict(metric.name)["params"],
        "leaderboard": [r.to_dict(metric.name) for r in results],
    }


def _child(**kwargs) -> dict:
    code = ("import json, sys\nfrom edgekit.benchmarks.scale_search import run_search_child\n"
            "print(json.dumps(run_search_child(**json.loads(sys.argv[1]))))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], capture_output=True, text=True,
                          env={**os.environ, "EDGEKIT_PROGRESS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode:
        raise SystemExit(f"the search benchmark failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_search(*, data: str = "auto-mpg", target: str = "mpg", models: tuple[str, ...] = DEFAULT_MODELS,
                   cv: int = 5, quick: bool = False, workers: int = 2, n_jobs: int = 2) -> dict:
    common = dict(data=data, target=target, models=list(models), cv=cv, quick=quick, n_jobs=n_jobs)
    local = _child(workers=None, **common)
    cluster = _child(workers=workers, **common)
    means = [(a["name"], b["name"], a["params"], b["params"], a["cv_mean"], b["cv_mean"])
             for a, b in zip(local["leaderboard"], cluster["leaderboard"])]
    same = (local["winner"], local["winner_params"]) == (cluster["winner"], cluster["winner_params"]) and \
        all(n1 == n2 and p1 == p2 for n1, n2, p1, p2, _, _ in means)
    diffs = [abs(m1 - m2) for *_, m1, m2 in means if m1 is not None and m2 is not None]
    return {
        "data": data, "target": target, "models": list(models), "cv": cv, "quick": quick, "workers": workers,
        "local_jobs": n_jobs, "local": local, "cluster": cluster,
        "cluster_vs_local_wall_time": cluster["seconds"] / local["seconds"],
        "same_winner_and_leaderboard": same, "max_cv_mean_difference": max(diffs) if diffs else None,
        "load_average": os.getloadavg(),
    }


def render_search(report: dict) -> str:
    local, cluster = report["local"], report["cluster"]
    diff = report["max_cv_mean_difference"]
    return "\n".join([
        f"search: {report['data']} ({local['rows']} training rows), models {','.join(report['models'])}, "
        f"{report['cv']}-fold CV{' (quick grids)' if report['quick'] else ''}, successive halving, {local['fits']} fits; "
        f"load average {', '.join(f'{v:.2f}' for v in report['load_average'])}",
        f"{'  local: joblib pool of ' + str(report['local_jobs']) + ', Keras in the driver':<58} {local['seconds']:>8.1f} s",
        f"{'  Dask LocalCluster, ' + str(report['workers']) + ' workers x 1 thread':<58} {cluster['seconds']:>8.1f} s"
        f"  (+{cluster['startup_s']:.1f} s cluster start)",
        f"  cluster / local wall time {report['cluster_vs_local_wall_time']:.2f}; winner local {local['winner']} "
        f"{local['winner_params']}, cluster {cluster['winner']}; same winner and leaderboard: "
        f"{'yes' if report['same_winner_and_leaderboard'] else 'NO'}; max |CV mean difference| "
        f"{'n/a' if diff is None else f'{diff:.2g}'}",
    ])
