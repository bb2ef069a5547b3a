"""Where the search's fits run: a joblib pool on this machine, or the workers of a Dask cluster.

:func:`edgekit.train.search.run_search` owns the job list and every pruning decision; a
runner only executes one round's (candidate, parameters, fold) fits and hands back each
output beside its job. The fit itself (:func:`fit_and_score`) is the same function in both,
and the Keras network seeds everything per fit (initial weights, dropout, row order), so a
cluster run scores exactly what a local run scores.

The Dask runner needs nothing but a connected ``distributed.Client`` (duck-typed: this
module never imports Dask); :func:`edgekit.scale.cluster.connect` makes one from
``--scheduler``. The workers need ``edgekit[train]`` installed.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from edgekit.runtime.errors import EdgekitError, MissingDependencyError
from edgekit.train.metrics import Metric

# A fit that raises is recorded as a failed setting by fit_and_score, never retried; these
# retries are for a job whose worker died or lost its connection mid-fit. (A worker that
# dies is also covered by the scheduler's own allowed-failures: its jobs are re-run elsewhere.)
RETRIES = 3

Output = tuple[Any, float, Any]  # (score or None, seconds, error text or None)


@dataclass(frozen=True)
class FitJob:
    key: Any  # the caller's handle for the job (never shipped to a worker)
    estimator: Any  # unfitted; cloned and set to ``params`` by the fit
    params: dict[str, Any]
    train: np.ndarray
    test: np.ndarray
    keras: bool


Run = Callable[[list[FitJob]], Iterator[tuple[FitJob, Output]]]


def fit_and_score(estimator, params, X: pd.DataFrame, y: np.ndarray, train_idx, test_idx, metric: Metric) -> Output:
    from sklearn.base import clone

    model = clone(estimator).set_params(**params)
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X.iloc[train_idx], y[train_idx])
            score = metric.fn(y[test_idx], model.predict(X.iloc[test_idx]))
    except Exception as exc:  # a failing configuration is recorded, not fatal
        return None, time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
    return score, time.perf_counter() - started, None


@contextlib.contextmanager
def local_runner(X: pd.DataFrame, y: np.ndarray, metric: Metric, n_jobs: int) -> Iterator[Run]:
    """scikit-learn fits in one joblib pool kept for every round; Keras fits in this process,
    so TensorFlow is imported once instead of once per pool worker, and each network
    architecture is traced once (keras_fit caches it) and reused by the refit."""
    from joblib import Parallel, delayed

    # loky warns when it recycles a worker that held TensorFlow; the results are unaffected.
    warnings.filterwarnings("ignore", message="A worker stopped while some jobs", category=UserWarning)
    with Parallel(n_jobs=n_jobs, return_as="generator") as parallel:

        def run(jobs: list[FitJob]) -> Iterator[tuple[FitJob, Output]]:
            pooled = [job for job in jobs if not job.keras]
            outputs = parallel(delayed(fit_and_score)(j.estimator, j.params, X, y, j.train, j.test, metric)
                               for j in pooled)  # starts dispatching now
            for job in jobs:
                if job.keras:
                    yield job, fit_and_score(job.estimator, job.params, X, y, job.train, job.test, metric)
            yield from zip(pooled, outputs)  # to the end, so the pool is free for the next round

        yield run


def fit_on_worker(estimator, params, X, y, train_idx, test_idx, metric: Metric) -> Output:
    """One fit on a Dask worker, with one thread for each numeric library: a worker is one
    task slot, so more threads would oversubscribe its cores, and one thread is also what
    makes TensorFlow's reductions run in a fixed order."""
    _one_thread()
    return fit_and_score(estimator, params, X, y, train_idx, test_idx, metric)


def _one_thread() -> None:
    # TensorFlow reads these when its runtime starts, i.e. at the first Keras fit in this worker.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # OpenMP (histogram boosting) and BLAS, for the rest of this process


@contextlib.contextmanager
def dask_runner(X: pd.DataFrame, y: np.ndarray, metric: Metric, client) -> Iterator[Run]:
    """Every fit, the networks' included, as one task on the cluster. The data is sent once
    per search, to every worker: scattered data cannot be recomputed, so a copy on one worker
    only would be lost with that worker, and with it every fit still to run."""
    X_remote, y_remote = client.scatter([X, y], hash=False, broadcast=True)

    def run(jobs: list[FitJob]) -> Iterator[tuple[FitJob, Output]]:
        # The networks first: the longest fits start first and the short ones fill in behind.
        ordered = [j for j in jobs if j.keras] + [j for j in jobs if not j.keras]
        futures = [client.submit(fit_on_worker, j.estimator, j.params, X_remote, y_remote, j.train, j.test, metric,
                                 pure=False, retries=RETRIES) for j in ordered]
        try:
            for job, future in zip(ordered, futures):
                yield job, _result(future)
        finally:  # an error or Ctrl-C must not leave the round running on the cluster
            client.cancel(futures)

    try:
        yield run
    finally:
        with contextlib.suppress(Exception):  # the cluster may already be gone; the first error matters
            client.cancel([X_remote, y_remote])


def _result(future) -> Output:
    try:
        return future.result()
    except EdgekitError:
        raise
    except ImportError as exc:  # the worker's environment, not the setting, is at fault
        raise MissingDependencyError(exc.name or str(exc), "train",
                                     purpose="on every Dask worker for train --scheduler") from None
    except Exception as exc:  # a job that killed its workers, a lost scheduler, ...
        raise EdgekitError(f"a search job failed on the Dask cluster ({type(exc).__name__}: {str(exc)[:300]})",
                           hint="check the workers' logs; the same search runs locally without --scheduler") from None
