"""Hyper-parameter search with k-fold cross-validation over every candidate.

scikit-learn's ``GridSearchCV`` gives no per-fold progress and searches one estimator at a
time, so this runs the same protocol (``ParameterGrid``/``ParameterSampler``, ``KFold``/
``StratifiedKFold``, ``clone`` per fit) as one joblib job list across all candidates, which
keeps both cores busy and ticks a progress bar per fold.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from edgekit.runtime.errors import ConfigError, DataError
from edgekit.runtime.schema import Schema
from edgekit.train.candidates import Candidate
from edgekit.train.metrics import Metric

STRATEGIES = ("grid", "random")


@dataclass
class Trial:
    params: dict[str, Any]
    scores: list[float] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores)) if self.scores and not self.error else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.scores)) if self.scores and not self.error else math.nan


@dataclass
class CandidateResult:
    """A candidate's best trial plus every trial it ran."""

    name: str
    title: str
    framework: str
    trials: list[Trial]
    best: Trial | None

    def to_dict(self, metric: str) -> dict[str, Any]:
        best = self.best
        return {
            "name": self.name,
            "title": self.title,
            "framework": self.framework,
            "params": jsonable(best.params) if best else None,
            "metric": metric,
            "cv_mean": best.mean if best else None,
            "cv_std": best.std if best else None,
            "fit_seconds": float(np.mean(best.fit_seconds)) if best and best.fit_seconds else None,
            "trials": len(self.trials),
            "error": None if best else next((t.error for t in self.trials if t.error), "no trial finished"),
        }


def jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def parameter_sets(candidate: Candidate, task: str, strategy: str, n_iter: int, seed: int, quick: bool,
                   override: dict[str, list] | None, n_features: int) -> list[dict[str, Any]]:
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown search {strategy!r}; choose one of {STRATEGIES}")
    if override is not None:
        space = override
    elif strategy == "grid":
        space = candidate.grid(task, quick, n_features)
    else:
        space = candidate.distributions(task, n_features)
    if strategy == "grid" or all(isinstance(v, list) for v in space.values()):
        grid = list(ParameterGrid(space))
        if strategy == "random" and len(grid) > n_iter:
            return list(ParameterSampler(space, n_iter=n_iter, random_state=seed))
        return grid
    return list(ParameterSampler(space, n_iter=n_iter, random_state=seed))


def cv_folds(y: np.ndarray, task: str, cv: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    if cv < 2:
        raise ConfigError(f"--cv must be at least 2, got {cv}")
    if len(y) < cv:
        raise DataError(f"only {len(y)} training rows for {cv}-fold cross-validation", hint="lower --cv or add data")
    if task == "classification":
        smallest = int(np.bincount(y.astype(int)).min()) if len(y) else 0
        if smallest >= cv:
            return list(StratifiedKFold(cv, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    return list(KFold(cv, shuffle=True, random_state=seed).split(np.zeros(len(y))))


def _fit_and_score(estimator, params, X, y, train_idx, test_idx, metric: Metric):
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


def run_search(
    candidates: list[Candidate],
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    task: str,
    schema: Schema,
    metric: Metric,
    strategy: str = "grid",
    n_iter: int = 10,
    cv: int = 5,
    seed: int = 0,
    impute: str = "median",
    quick: bool = False,
    overrides: dict[str, dict[str, list]] | None = None,
    n_jobs: int = -1,
    on_fold: Callable[[str], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> list[CandidateResult]:
    """Cross-validate every parameter set of every candidate; return results per candidate."""
    from joblib import Parallel, delayed

    folds = cv_folds(y, task, cv, seed)
    jobs, trials = [], {}
    for candidate in candidates:
        estimator = candidate.build(task, schema, seed, impute)
        sets = parameter_sets(candidate, task, strategy, n_iter, seed, quick, (overrides or {}).get(candidate.name), len(schema))
        trials[candidate.name] = [Trial(p) for p in sets]
        for t, params in enumerate(sets):
            for train_idx, test_idx in folds:
                jobs.append(((candidate.name, t), delayed(_fit_and_score)(estimator, params, X, y, train_idx, test_idx, metric)))
    if on_start:
        on_start(len(jobs))
    keys = [key for key, _ in jobs]
    runner = Parallel(n_jobs=n_jobs, return_as="generator")
    # loky warns when it recycles a worker that held TensorFlow; the results are unaffected.
    warnings.filterwarnings("ignore", message="A worker stopped while some jobs", category=UserWarning)
    for (name, t), (score, seconds, error) in zip(keys, runner(job for _, job in jobs)):
        trial = trials[name][t]
        trial.fit_seconds.append(seconds)
        if error:
            trial.error = trial.error or error
        else:
            trial.scores.append(score)
        if on_fold:
            on_fold(name)
    results = []
    for candidate in candidates:
        finished = [t for t in trials[candidate.name] if not t.error and len(t.scores) == len(folds)]
        best = None
        for trial in finished:
            if best is None or metric.better(trial.mean, best.mean):
                best = trial
        results.append(CandidateResult(candidate.name, candidate.title, candidate.framework, trials[candidate.name], best))
    return results


def pick_winner(results: list[CandidateResult], metric: Metric) -> CandidateResult:
    """Best CV mean; ties go to the earlier (simpler) candidate."""
    winner = None
    for result in results:
        if result.best is None:
            continue
        if winner is None or metric.better(result.best.mean, winner.best.mean):
            winner = result
    if winner is None:
        errors = {r.name: r.to_dict(metric.name)["error"] for r in results}
        raise DataError(f"every candidate failed to train: {errors}")
    return winner
