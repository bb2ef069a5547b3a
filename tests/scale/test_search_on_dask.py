"""The search on Dask (`edgekit train --scheduler`) against the same search run locally: the
same scores for every (setting, fold), the same leaderboard, winner and test metrics, on a
LocalCluster whose worker is SIGKILLed mid-search and on a real `dask scheduler` +
`dask worker` cluster on loopback."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from edgekit.train import TrainConfig, train
from edgekit.train.candidates import select_candidates
from edgekit.train.search import run_search

pytestmark = pytest.mark.slow

MODELS = ("linear", "rf", "nn")  # the network included: its fits must not depend on where they run
CONFIG = TrainConfig(target="mpg", models=MODELS, quick=True, cv=3, seed=0)


@pytest.fixture(scope="module")
def cars_csv(tmp_path_factory):
    from edgekit.train import load_dataset

    path = tmp_path_factory.mktemp("search-data") / "cars.csv"
    load_dataset("auto-mpg").frame.sample(150, random_state=0).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def local_run(cars_csv):
    """The reference: the same search in this process (one worker, no Dask)."""
    return train(cars_csv, CONFIG, n_jobs=1, show_progress=False)


def _scores(results) -> dict:
    return {(r.name, json.dumps(t.params, default=list)): (t.scores, t.pruned_after, t.error)
            for r in results for t in r.trials}


def _same_scores(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, (scores, pruned, error) in want.items():
        assert (got[key][1], got[key][2]) == (pruned, error), key
        assert got[key][0] == pytest.approx(scores, abs=1e-6, rel=0), key


def test_local_cluster_search_with_a_worker_killed_mid_job_scores_what_a_local_run_scores(local_run):
    from distributed import Client, LocalCluster

    prepared, models = local_run.prepared, ["linear", "rf"]  # the network's fits run on the real cluster below
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(2)
        address, victim = next(iter(client.run(os.getpid).items()))
        done, busy = [], []

        def kill_after_the_first_fit(name: str) -> None:
            done.append(name)
            if len(done) == 1:  # the forests are still queued or running on both workers
                busy.extend(client.processing(workers=[address])[address])
                os.kill(victim, signal.SIGKILL)

        results = run_search(select_candidates(models), prepared.x_train, prepared.y_train, task=prepared.task,
                             schema=prepared.schema, metric=local_run.metric, cv=CONFIG.cv, seed=CONFIG.seed,
                             quick=True, client=client, on_fold=kill_after_the_first_fit)
        assert busy, "the worker was idle when it was killed"
        assert victim not in client.run(os.getpid).values()  # the nanny started a new worker process
    reference = [r for r in local_run.results if r.name in models]
    assert len(done) == sum(len(t.fit_seconds) for r in reference for t in r.trials)
    _same_scores(_scores(results), _scores(reference))


def test_real_cluster_train_picks_the_local_winner_with_the_same_metrics(local_run, cars_csv, dask_cluster, edgekit_cli,
                                                                         tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_PROGRESS", "lines")
    code, err = edgekit_cli("train", cars_csv, "--target", "mpg", "--models", ",".join(MODELS), "--quick", "--cv", "3",
                            "--scheduler", dask_cluster.address, "--out", tmp_path / "bundle")
    assert code == 0, err
    assert f"cross-validation on the Dask cluster at {dask_cluster.address} (2 workers)" in err
    card = json.loads((tmp_path / "bundle" / "model_card.json").read_text())
    want = local_run.card.to_dict()
    assert card["winner"]["name"] == want["winner"]["name"] and card["winner"]["params"] == want["winner"]["params"]
    assert card["winner"]["cv_mean"] == pytest.approx(want["winner"]["cv_mean"], abs=1e-6, rel=0)
    assert [(r["name"], r["params"], r["trials"], r["fits"]) for r in card["leaderboard"]] == \
        [(r["name"], r["params"], r["trials"], r["fits"]) for r in want["leaderboard"]]
    for got, ref in zip(card["leaderboard"], want["leaderboard"]):
        assert (got["cv_mean"], got["cv_std"]) == pytest.approx((ref["cv_mean"], ref["cv_std"]), abs=1e-6, rel=0)
    for name, value in want["test_metrics"].items():
        assert card["test_metrics"][name] == pytest.approx(value, abs=1e-6, rel=0), name


def test_unreachable_scheduler_fails_within_15_s_naming_the_address(cars_csv, edgekit_cli, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening
        started = time.monotonic()
        code, err = edgekit_cli("train", cars_csv, "--target", "mpg", "--models", "linear", "--scheduler", address,
                                "--out", tmp_path / "bundle")
    assert time.monotonic() - started < 15
    assert code != 0 and f"cannot reach the Dask scheduler at {address}" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "bundle").exists()


def test_without_the_dask_extra_train_scheduler_names_the_extra(cars_csv, tmp_path, scale_tools):
    # `distributed` hidden from the import system, as if edgekit[dask] were not installed.
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from edgekit.cli.main import main\n"
            f"main(['train', {str(cars_csv)!r}, '--target', 'mpg', '--models', 'linear', '--scheduler', 'local:1', "
            f"'--out', {str(tmp_path / 'bundle')!r}])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=scale_tools.env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "pip install 'edgekit[dask]'" in done.stderr and "Traceback" not in done.stderr


def test_scheduler_is_refused_for_image_training(edgekit_cli, tmp_path):
    code, err = edgekit_cli("train", "digits-images", "--scheduler", "local:1", "--out", tmp_path / "bundle")
    assert code == 2 and "--scheduler runs the search of tables" in err
