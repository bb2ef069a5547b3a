"""Grid and random search, overrides from a file, fold construction."""

import numpy as np
import pytest

from edgekit.runtime import ConfigError, DataError
from edgekit.train import TrainConfig, train
from edgekit.train.candidates import CANDIDATES, load_search_space
from edgekit.train.search import cv_folds, parameter_sets


def test_random_search_samples_n_iter_sets_reproducibly():
    sets = parameter_sets(CANDIDATES["svm"], "regression", "random", 4, seed=1, quick=False, override=None, n_features=7)
    again = parameter_sets(CANDIDATES["svm"], "regression", "random", 4, seed=1, quick=False, override=None, n_features=7)
    assert len(sets) == 4 and sets == again
    assert all(0.1 <= s["model__C"] <= 300 for s in sets)


def test_grid_search_enumerates_the_full_grid():
    sets = parameter_sets(CANDIDATES["gb"], "regression", "grid", 10, seed=0, quick=False, override=None, n_features=7)
    assert len(sets) == 8  # 2 x 2 x 2


def test_search_space_file_overrides_the_defaults(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("svm:\n  model__C: [3.0]\n  model__epsilon: [0.2, 0.4]\nnn:\n  hidden: [[8], [4, 4]]\n")
    space = load_search_space(path)
    assert space == {"svm": {"model__C": [3.0], "model__epsilon": [0.2, 0.4]}, "nn": {"hidden": [(8,), (4, 4)]}}
    result = train("auto-mpg", TrainConfig(target="mpg", models=("svm",), cv=2, search_space=str(path)),
                   n_jobs=1, show_progress=False)
    row = result.card.leaderboard[0]
    assert row["trials"] == 2 and row["params"]["model__C"] == 3.0


@pytest.mark.parametrize("text, message", [("svm: [1, 2]", "must map"), ("xgb:\n  a: [1]", "unknown candidate"), ("{", "cannot parse")])
def test_bad_search_space_files_are_usage_errors(tmp_path, text, message):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_search_space(path)


def test_random_search_end_to_end_records_every_trial():
    result = train("auto-mpg", TrainConfig(target="mpg", models=("svm", "linear"), search="random", n_iter=3, cv=2,
                                           exhaustive=True), n_jobs=2, show_progress=False)
    trials = {r.name: len(r.trials) for r in result.results}
    assert trials == {"svm": 3, "linear": 3}
    assert all(len(t.scores) == 2 for r in result.results for t in r.trials)


def test_folds_are_stratified_when_every_class_allows_it():
    y = np.array([0] * 10 + [1] * 5)
    folds = cv_folds(y, "classification", 5, seed=0)
    assert all(np.bincount(y[test]).tolist() == [2, 1] for _, test in folds)
    with pytest.raises(DataError, match="only 3 training rows"):
        cv_folds(np.arange(3), "regression", 5, seed=0)
