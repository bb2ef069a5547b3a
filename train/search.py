"""Hyper-parameter search with k-fold cross-validation over every candidate.

scikit-learn's ``GridSearchCV`` gives no per-fold progress and searches one estimator at a
time, so this runs the same protocol (``ParameterGrid``/``ParameterSampler``, ``KFold``/
``StratifiedKFold``, ``clone`` per fit) as one joblib job list across all candidates, which
keeps both cores busy and ticks a progress bar per fold.

By default each candidate's settings go through successive halving with folds as the
resource (the idea of scikit-learn's ``HalvingGridSearchCV``, whose resource is rows):
every setting is scored on the first two folds, the best third goes on to six (that is,
with 5-fold CV, all) folds, and so on; the survivors of the last round are scored on
every fold. All settings are ranked on the same
folds, so the comparison is paired, and a winner's mean is over exactly the folds an
exhaustive search would use (``halving=False`` runs that exhaustive search).

Each round's fits run in a local joblib pool or, given a Dask client, on a cluster
(:mod:`edgekit.train.search_runners`); the pruning between rounds always runs here.
"""

from __future__ import annotations

import math
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
    pruned_after: int | None = None  # folds scored when successive halving dropped it

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
            "pruned": sum(t.pruned_after is not None for t in self.trials),
            "fits": sum(len(t.fit_seconds) for t in self.trials),
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


HALVING_FACTOR = 3
FIRST_ROUND_FOLDS = 2  # one small fold alone ranked Auto MPG's settings badly (seed 1)


def halving_schedule(n_sets: int, n_folds: int, factor: int = HALVING_FACTOR,
                     first: int = FIRST_ROUND_FOLDS) -> list[tuple[int, int]]:
    """``[(folds, settings), ...]`` per round: all settings on ``first`` folds, the best
    ``1/factor`` on ``factor`` times as many, ..., the survivors of the last round on all."""
    rounds, folds = [], min(first, n_folds)
    while n_sets > 1 and folds < n_folds:
        rounds.append((folds, n_sets))
        n_sets = math.ceil(n_sets / factor)
        folds *= factor
    rounds.append((n_folds, n_sets))
    return rounds


@dataclass
class _CandidateSearch:
    candidate: Candidate
    estimator: Any
    trials: list[Trial]
    schedule: list[tuple[int, int]]
    alive: list[Trial] = field(default_factory=list)
    pending: int = 0
    seconds: float = 0.0

    def planned_fits(self) -> int:
        done = 0
        total = 0
        for folds, n_sets in self.schedule:
            total += n_sets * (folds - done)
            done = folds
        return total

    def folds_before(self, round_index: int) -> int:
        return self.schedule[round_index - 1][0] if round_index else 0


def _ranked(trials: list[Trial], metric: Metric) -> list[Trial]:
    """Best first; failed or non-finite trials last; ties keep the listed (simpler) order."""
    sign = -1.0 if metric.greater_is_better else 1.0
    usable = [t for t in trials if not t.error and math.isfinite(t.mean)]
    return sorted(usable, key=lambda t: sign * t.mean)


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
    halving: bool = True,
    client: Any = None,
    on_fold: Callable[[str], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> list[CandidateResult]:
    """Cross-validate every candidate's parameter sets (with successive halving unless
    ``halving=False``); return results per candidate. ``on_note`` gets one line per
    finished halving round and per finished candidate (what, score, time).

    The fits run in a local pool of ``n_jobs`` workers, or, given a connected Dask
    ``client``, on its cluster; the rounds and the pruning between them stay here."""
    from edgekit.train.search_runners import FitJob, dask_runner, local_runner

    folds = cv_folds(y, task, cv, seed)
    searches = []
    for candidate in candidates:
        estimator = candidate.build(task, schema, seed, impute)
        sets = parameter_sets(candidate, task, strategy, n_iter, seed, quick, (overrides or {}).get(candidate.name), len(schema))
        trials = [Trial(p) for p in sets]
        schedule = halving_schedule(len(sets), len(folds)) if halving else [(len(folds), len(sets))]
        searches.append(_CandidateSearch(candidate, estimator, trials, schedule, alive=list(trials)))
    if on_start:
        on_start(sum(s.planned_fits() for s in searches))
    note = on_note or (lambda text: None)
    runner = dask_runner(X, y, metric, client) if client is not None else local_runner(X, y, metric, n_jobs)
    with runner as run:
        for round_index in range(max(len(s.schedule) for s in searches)):
            jobs = []
            for search in searches:
                if round_index >= len(search.schedule) or not search.alive:
                    continue
                start, upto = search.folds_before(round_index), search.schedule[round_index][0]
                search.pending = len(search.alive) * (upto - start)
                keras = search.candidate.framework == "keras"
                for trial in search.alive:
                    for f in range(start, upto):
                        jobs.append(FitJob((search, trial), search.estimator, trial.params, folds[f][0], folds[f][1], keras))
            for job, output in run(jobs):
                _record(job.key, output, round_index, len(folds), metric, note, on_fold)
    results = []
    for search in searches:
        finished = [t for t in search.trials if not t.error and len(t.scores) == len(folds)]
        ranked = _ranked(finished, metric)
        best = ranked[0] if ranked else None
        results.append(CandidateResult(search.candidate.name, search.candidate.title, search.candidate.framework, search.trials, best))
    return results


def _record(key, output, round_index: int, n_folds: int, metric: Metric, note, on_fold) -> None:
    search, trial = key
    score, seconds, error = output
    trial.fit_seconds.append(seconds)
    search.seconds += seconds
    if error:
        trial.error = trial.error or error
    else:
        trial.scores.append(score)
    if on_fold:
        on_fold(search.candidate.name)
    search.pending -= 1
    if search.pending == 0:
        _close_round(search, round_index, n_folds, metric, note)


def _close_round(search: _CandidateSearch, round_index: int, n_folds: int, metric: Metric, note: Callable[[str], None]) -> None:
    """Keep the round's best settings for the next round and report the round in one line."""
    name, folds = search.candidate.name, search.schedule[round_index][0]
    ranked = _ranked(search.alive, metric)
    if round_index == len(search.schedule) - 1 or not ranked:
        search.alive = []
        if not ranked:
            error = next((t.error for t in search.trials if t.error), "no setting produced a finite score")
            note(f"cross-validation {name}: failed: {error} ({search.seconds:.1f} s)")
            return
        best = ranked[0]
        note(f"cross-validation {name}: {metric.name} {best.mean:.4g} ± {best.std:.2g} over {n_folds} folds "
             f"({format_params(best.params)}); {len(search.trials)} settings, "
             f"{sum(len(t.fit_seconds) for t in search.trials)} fits, {search.seconds:.1f} s")
        return
    keep = ranked[: search.schedule[round_index + 1][1]]
    kept = {id(t) for t in keep}
    for trial in search.alive:
        if id(trial) not in kept and not trial.error:
            trial.pruned_after = len(trial.scores)
    search.alive = keep
    note(f"cross-validation {name}: {len(ranked)} settings on {folds}/{n_folds} folds, best {metric.name} "
         f"{ranked[0].mean:.4g}, {len(keep)} kept ({search.seconds:.1f} s)")


def format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k.removeprefix('model__')}={v}" for k, v in jsonable(params).items())


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
