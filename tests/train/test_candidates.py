"""The default candidate families."""

from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier, HistGradientBoostingRegressor

from edgekit.runtime import Feature, Schema
from edgekit.train import DEFAULT_MODELS, TrainConfig, train
from edgekit.train.candidates import select_candidates

SCHEMA = Schema.of([Feature("a", "numeric", "float")])


def test_histogram_boosting_is_the_default_gradient_boosting_family():
    names = [c.name for c in select_candidates(None)]
    assert names == list(DEFAULT_MODELS) and "hgb" in names and "gb" not in names
    hgb = next(c for c in select_candidates(None) if c.name == "hgb")
    assert isinstance(hgb.build("regression", SCHEMA, 0, "median").named_steps["model"], HistGradientBoostingRegressor)
    assert isinstance(hgb.build("classification", SCHEMA, 0, "median").named_steps["model"], HistGradientBoostingClassifier)


def test_classic_gradient_boosting_stays_selectable():
    (gb,) = select_candidates("gb")
    assert isinstance(gb.build("regression", SCHEMA, 0, "median").named_steps["model"], GradientBoostingRegressor)
    card = train("auto-mpg", TrainConfig(target="mpg", models=("gb",), quick=True, cv=2), n_jobs=1, show_progress=False).card
    assert card.winner["name"] == "gb" and card.test_metrics["rmse"] < 4.0
