"""Successive halving over folds: the same winner as scikit-learn's exhaustive GridSearchCV."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV

from edgekit.runtime import Feature, Schema
from edgekit.train.candidates import CANDIDATES
from edgekit.train.metrics import get_metric
from edgekit.train.search import cv_folds, halving_schedule, run_search

GRID = {"model__C": [0.01, 0.3, 10.0], "model__gamma": [0.01, 0.5, 20.0], "model__epsilon": [0.05]}


@pytest.fixture(scope="module")
def smooth_problem():
    """y = sin(3 x0) + x1 / 2 + noise: an RBF SVR with C=10, gamma=0.5 is clearly best in GRID
    (tiny C underfits, gamma 20 memorises, gamma 0.01 is nearly linear)."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(240, 2)).astype(np.float32)
    y = np.sin(3 * x[:, 0]) + 0.5 * x[:, 1] + rng.normal(0, 0.05, size=240)
    frame = pd.DataFrame(x, columns=["x0", "x1"])
    schema = Schema.of([Feature("x0", "numeric", "float"), Feature("x1", "numeric", "float")])
    return frame, y, schema


def _grid_search(frame, y, schema, folds):
    estimator = CANDIDATES["svm"].build("regression", schema, 0, "median")
    search = GridSearchCV(estimator, GRID, cv=folds, scoring="neg_root_mean_squared_error")
    return search.fit(frame, y)


def _search(frame, y, schema, halving):
    return run_search([CANDIDATES["svm"]], frame, y, task="regression", schema=schema, metric=get_metric("rmse", "regression"),
                      cv=5, overrides={"svm": GRID}, n_jobs=1, halving=halving)[0]


def test_schedule_scores_everything_on_two_folds_and_only_survivors_on_all():
    assert halving_schedule(12, 5) == [(2, 12), (5, 4)]
    assert halving_schedule(36, 10) == [(2, 36), (6, 12), (10, 4)]
    assert halving_schedule(2, 5) == [(2, 2), (5, 1)]
    assert halving_schedule(1, 5) == [(5, 1)]
    assert halving_schedule(7, 3) == [(2, 7), (3, 3)]
    assert halving_schedule(7, 2) == [(2, 7)]  # two folds: nothing to halve


def test_halving_picks_gridsearchcvs_winner_with_its_score_on_the_same_folds(smooth_problem):
    frame, y, schema = smooth_problem
    folds = cv_folds(y, "regression", 5, seed=0)
    reference = _grid_search(frame, y, schema, folds)
    result = _search(frame, y, schema, halving=True)
    assert result.best.params == reference.best_params_
    assert result.best.mean == pytest.approx(-reference.best_score_, rel=1e-9)
    assert reference.best_params_["model__C"] == 10.0 and reference.best_params_["model__gamma"] == 0.5
    # 9 settings x 2 folds, then 3 x 3 more: 27 fits instead of 45, and the other 6 are marked.
    assert sum(len(t.fit_seconds) for t in result.trials) == 27
    assert sum(t.pruned_after == 2 for t in result.trials) == 6
    assert result.to_dict("rmse")["pruned"] == 6


def test_exhaustive_search_reproduces_every_gridsearchcv_mean(smooth_problem):
    frame, y, schema = smooth_problem
    reference = _grid_search(frame, y, schema, cv_folds(y, "regression", 5, seed=0))
    result = _search(frame, y, schema, halving=False)
    expected = {tuple(sorted(p.items())): -m for p, m in zip(reference.cv_results_["params"], reference.cv_results_["mean_test_score"])}
    got = {tuple(sorted(t.params.items())): t.mean for t in result.trials}
    assert got == pytest.approx(expected, rel=1e-9)
    assert all(t.pruned_after is None and len(t.scores) == 5 for t in result.trials)


def test_a_failing_setting_is_dropped_and_the_others_still_race(smooth_problem):
    frame, y, schema = smooth_problem
    grid = {"model__C": [10.0, -1.0], "model__gamma": [0.5]}  # C must be positive
    result = run_search([CANDIDATES["svm"]], frame, y, task="regression", schema=schema, metric=get_metric("rmse", "regression"),
                        cv=5, overrides={"svm": grid}, n_jobs=1)[0]
    assert result.best.params["model__C"] == 10.0 and len(result.best.scores) == 5
    failed = next(t for t in result.trials if t.params["model__C"] == -1.0)
    assert failed.error and "C" in failed.error and len(failed.fit_seconds) == 2
