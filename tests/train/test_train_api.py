"""train(): selection, evaluation, the model card, reproducibility."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from edgekit.train import TrainConfig, load_bundle, load_dataset, train


@pytest.fixture(scope="module")
def mpg_tutorial():
    config = TrainConfig(target="mpg", split="tutorial", models=("linear", "svm", "rf", "gb"))
    return train("auto-mpg", config, n_jobs=2, show_progress=False)


def test_tutorial_split_beats_tensorflows_dnn_mae(mpg_tutorial):
    card = mpg_tutorial.card
    assert card.test_metrics["mae"] < 1.73  # TensorFlow's fuel-efficiency tutorial DNN
    best = min(r["cv_mean"] for r in card.leaderboard)
    assert card.winner["cv_mean"] == best and card.leaderboard[0]["name"] == card.winner["name"]


def test_card_records_everything_about_the_run(mpg_tutorial, tmp_path):
    path = mpg_tutorial.save(tmp_path / "b")
    card = load_bundle(path).card
    frame = load_dataset("auto-mpg").frame
    train_split = pd.read_csv(path / "data" / "train.csv")
    assert card.task == "regression" and card.target == "mpg" and card.labels is None
    assert card.data["rows"] == len(frame) and card.data["sha256"] == load_dataset("auto-mpg").fingerprint
    assert [f.name for f in card.schema] == ["cylinders", "displacement", "horsepower", "weight", "acceleration", "model_year", "origin"]
    weight = card.schema["weight"]
    assert (weight.min, weight.max) == (train_split["weight"].min(), train_split["weight"].max())
    assert card.schema["origin"].categories == (1, 2, 3)
    assert card.preparation["dropped_columns"]["car_name"].startswith("looks like an identifier")
    assert card.preparation["split"] == {"mode": "tutorial", "test_size": 0.2, "seed": 0, "stratified": False,
                                         "train_rows": 314, "test_rows": 78}
    assert {r["name"] for r in card.leaderboard} == {"linear", "svm", "rf", "gb"}
    for row in card.leaderboard:
        assert row["cv_std"] >= 0 and row["fit_seconds"] > 0 and row["params"]
    assert set(card.test_metrics) == {"rmse", "mse", "mae", "r2"} and set(card.train_metrics) == set(card.test_metrics)
    assert card.seed == 0 and card.library_versions["scikit-learn"] and card.created_at
    dist = card.distributions["weight"]
    np.testing.assert_allclose(dist["quantiles"], np.quantile(train_split["weight"], np.linspace(0, 1, 101)))
    assert sum(dist["bin_fractions"]) == pytest.approx(1.0)
    origin = card.distributions["origin"]["frequencies"]
    expected = train_split["origin"].astype(str).value_counts(normalize=True)
    assert origin == pytest.approx(expected.to_dict())
    assert card.distributions["__prediction__"]["kind"] == "numeric"
    assert card.config["models"] == ["linear", "svm", "rf", "gb"] and card.config["cv"] == 5


def test_same_seed_same_winner_and_metrics():
    config = TrainConfig(target="mpg", models=("svm", "rf"), quick=True, cv=3, seed=7)
    a = train("auto-mpg", config, n_jobs=1, show_progress=False).card
    b = train("auto-mpg", config, n_jobs=2, show_progress=False).card
    assert a.winner["name"] == b.winner["name"] and a.winner["params"] == b.winner["params"]
    for key, value in a.test_metrics.items():
        assert b.test_metrics[key] == pytest.approx(value, abs=1e-6)


def test_default_split_reports_all_regression_metrics():
    card = train("auto-mpg", TrainConfig(target="mpg", models=("svm", "rf", "nn"), quick=True, cv=2),
                 n_jobs=2, show_progress=False).card
    assert {r["name"] for r in card.leaderboard} == {"svm", "rf", "nn"}
    assert all(r["cv_mean"] is not None for r in card.leaderboard)
    assert set(card.test_metrics) == {"rmse", "mse", "mae", "r2"}


def test_classification_card_has_labels_confusion_matrix_and_roc_auc():
    card = train("breast-cancer", TrainConfig(target="target", models=("linear",), quick=True, cv=3),
                 n_jobs=1, show_progress=False).card
    assert card.task == "classification" and card.labels == [0, 1]
    assert card.metric["name"] == "f1_macro"
    m = card.test_metrics
    assert np.sum(m["confusion_matrix"]) == card.preparation["split"]["test_rows"]
    assert 0.9 < m["roc_auc"] <= 1.0 and m["accuracy"] > 0.9


def test_digits_reaches_97_percent(tmp_path):
    card = train("digits", TrainConfig(target="target", models=("svm", "linear"), quick=True, cv=3),
                 n_jobs=2, show_progress=False).card
    assert card.test_metrics["accuracy"] >= 0.97


def test_alternative_refits_another_candidate_as_winner():
    result = train("auto-mpg", TrainConfig(target="mpg", models=("svm", "linear"), quick=True, cv=2),
                   n_jobs=1, show_progress=False)
    other = result.alternative("linear" if result.card.winner["name"] == "svm" else "svm")
    assert other.card.winner["name"] != result.card.winner["name"]
    assert other.card.leaderboard == result.card.leaderboard


def test_string_labels_are_kept(tmp_path):
    frame = load_dataset("iris").frame
    frame["target"] = frame["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    card = train(path, TrainConfig(target="target", models=("linear",), quick=True, cv=2), n_jobs=1, show_progress=False).card
    assert card.labels == ["setosa", "versicolor", "virginica"]
    assert card.data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
