"""Candidate model families and their default search spaces.

Each family builds a full estimator over *raw* features (preprocessing + model), so the
fitted winner is exactly what gets exported. Search spaces use scikit-learn's
``model__<param>`` naming and can be overridden from a YAML/JSON file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edgekit.runtime.errors import ConfigError
from edgekit.runtime.schema import Schema


@dataclass(frozen=True)
class Candidate:
    name: str
    title: str
    framework: str  # "sklearn" or "keras"
    build: Callable[[str, Schema, int, str], Any]  # (task, schema, seed, impute) -> estimator
    grid: Callable[[str, bool, int], dict[str, list]]  # (task, quick, n_features) -> param grid
    distributions: Callable[[str, int], dict[str, Any]]  # (task, n_features) -> random-search distributions


def _pipeline(schema: Schema, model, *, scale: bool, impute: str):
    from sklearn.pipeline import Pipeline

    from edgekit.train.prepare import make_preprocessor

    return Pipeline([("prepare", make_preprocessor(schema, scale=scale, impute=impute)), ("model", model)])


def _linear(task, schema, seed, impute):
    from sklearn.linear_model import LogisticRegression, Ridge

    model = Ridge() if task == "regression" else LogisticRegression(max_iter=2000, random_state=seed)
    return _pipeline(schema, model, scale=True, impute=impute)


def _svm(task, schema, seed, impute):
    from sklearn.svm import SVC, SVR

    if task == "regression":
        return _pipeline(schema, SVR(), scale=True, impute=impute)
    from sklearn.calibration import CalibratedClassifierCV

    # SVC(probability=True) is deprecated since scikit-learn 1.9; this is its replacement.
    return _pipeline(schema, CalibratedClassifierCV(SVC(random_state=seed), ensemble=False), scale=True, impute=impute)


def _forest(task, schema, seed, impute):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestRegressor if task == "regression" else RandomForestClassifier
    return _pipeline(schema, cls(random_state=seed, n_jobs=1), scale=False, impute=impute)


def _boosting(task, schema, seed, impute):
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

    cls = GradientBoostingRegressor if task == "regression" else GradientBoostingClassifier
    return _pipeline(schema, cls(random_state=seed), scale=False, impute=impute)


def _hist_boosting(task, schema, seed, impute):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    return _pipeline(schema, cls(random_state=seed), scale=False, impute=impute)


def _network(task, schema, seed, impute):
    from edgekit.train.keras_model import KerasTabularClassifier, KerasTabularRegressor

    cls = KerasTabularRegressor if task == "regression" else KerasTabularClassifier
    return cls(schema=schema, random_state=seed, impute=impute)


def _uniform_log(low: float, high: float):
    from scipy.stats import loguniform

    return loguniform(low, high)


def _randint(low: int, high: int):
    from scipy.stats import randint

    return randint(low, high)


def _widths(n_features: int) -> list[tuple[int, ...]]:
    """Hidden layers sized to the input: small tables get 128-wide layers, wide inputs
    (e.g. 64 pixels) wider first layers, so the weights, not the fixed file overhead, dominate."""
    if n_features <= 16:
        return [(128, 128), (64, 64)]
    return [(256, 128), (128, 64)]


def _network_grid(task: str, quick: bool, n_features: int) -> dict[str, list]:
    """Cross-validation picks the width, the L2 strength (against the summed loss, see
    keras_fit) and, for regression, an absolute or squared loss; the rest is fixed: 100
    passes with a moving average of the weights, Adam at 1e-3."""
    widths = _widths(n_features)
    if quick:
        return {"hidden": widths[:1], "l2": [0.01, 1.0]}
    if task == "regression":
        return {"hidden": widths, "l2": [0.3, 3.0, 30.0], "loss": ["mae", "mse"]}
    return {"hidden": widths, "l2": [0.1, 1.0, 10.0]}


def _network_distributions(task: str, n_features: int) -> dict[str, Any]:
    space = {"hidden": _widths(n_features) + [(32,), (64,), (128, 64)], "l2": _uniform_log(0.03, 10.0),
             "learning_rate": _uniform_log(3e-4, 3e-3), "dropout": [0.0, 0.1]}
    if task == "regression":
        space["loss"] = ["mae", "mse", "huber"]
    return space


CANDIDATES: dict[str, Candidate] = {
    c.name: c
    for c in (
        Candidate(
            "linear", "Linear (ridge / logistic)", "sklearn", _linear,
            lambda task, quick, n_features: {"model__alpha": [0.1, 1.0, 10.0]} if task == "regression" else {"model__C": [0.1, 1.0, 10.0]},
            lambda task, n_features: {"model__alpha": _uniform_log(1e-3, 1e2)} if task == "regression" else {"model__C": _uniform_log(1e-3, 1e2)},
        ),
        Candidate(
            "svm", "Support vector machine", "sklearn", _svm,
            lambda task, quick, n_features: (
                {"model__C": [10.0, 30.0] if quick else [1.0, 10.0, 30.0, 100.0], "model__epsilon": [0.5] if quick else [0.1, 0.5, 1.0],
                 "model__gamma": ["scale", 0.1] if quick else ["scale", 0.05, 0.1]}
                if task == "regression"
                else {"model__estimator__C": [1.0, 10.0] if quick else [0.1, 1.0, 10.0, 100.0], "model__estimator__gamma": ["scale"] if quick else ["scale", 0.01, 0.1]}
            ),
            lambda task, n_features: (
                {"model__C": _uniform_log(0.1, 300), "model__epsilon": _uniform_log(0.01, 2.0), "model__gamma": _uniform_log(1e-3, 1.0)}
                if task == "regression"
                else {"model__estimator__C": _uniform_log(0.01, 300), "model__estimator__gamma": _uniform_log(1e-4, 1.0)}
            ),
        ),
        Candidate(
            "rf", "Random forest", "sklearn", _forest,
            lambda task, quick, n_features: (
                {"model__n_estimators": [100], "model__max_features": [0.33, 1.0] if task == "regression" else ["sqrt"], "model__min_samples_leaf": [1]}
                if quick
                else {"model__n_estimators": [300], "model__max_features": [0.33, 0.5, 1.0] if task == "regression" else ["sqrt", 0.5],
                      "model__min_samples_leaf": [1, 3]}
            ),
            lambda task, n_features: {"model__n_estimators": _randint(100, 400), "model__max_features": [0.33, 0.5, 1.0, "sqrt"],
                          "model__min_samples_leaf": _randint(1, 6), "model__max_depth": [None, 8, 16]},
        ),
        Candidate(
            "gb", "Gradient boosting", "sklearn", _boosting,
            lambda task, quick, n_features: (
                {"model__n_estimators": [200], "model__learning_rate": [0.05], "model__max_depth": [2, 3]}
                if quick
                else {"model__n_estimators": [200, 500], "model__learning_rate": [0.05, 0.1], "model__max_depth": [2, 3]}
            ),
            lambda task, n_features: {"model__n_estimators": _randint(100, 600), "model__learning_rate": _uniform_log(0.01, 0.3),
                          "model__max_depth": _randint(2, 5), "model__subsample": [0.8, 1.0]},
        ),
        Candidate(
            "hgb", "Histogram gradient boosting", "sklearn", _hist_boosting,
            lambda task, quick, n_features: {"model__max_iter": [200], "model__learning_rate": [0.05, 0.1], "model__max_leaf_nodes": [7, 15] if not quick else [15]},
            lambda task, n_features: {"model__max_iter": _randint(100, 500), "model__learning_rate": _uniform_log(0.01, 0.3),
                          "model__max_leaf_nodes": _randint(7, 63)},
        ),
        Candidate("nn", "Neural network (Keras MLP)", "keras", _network, _network_grid, _network_distributions),
    )
}
# Histogram gradient boosting, not the classic one: on digits a classic fit took 41 s (10
# classes x 500 trees), a histogram one a few seconds, at the same accuracy. "gb" stays
# selectable with --models.
DEFAULT_MODELS = ("linear", "svm", "rf", "hgb", "nn")


def select_candidates(names: str | list[str] | None) -> list[Candidate]:
    if names is None:
        return [CANDIDATES[n] for n in DEFAULT_MODELS]
    wanted = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    unknown = [n for n in wanted if n not in CANDIDATES]
    if unknown or not wanted:
        raise ConfigError(f"unknown model(s) {unknown or wanted}", hint=f"choose from {', '.join(CANDIDATES)}")
    return [CANDIDATES[n] for n in dict.fromkeys(wanted)]


def load_search_space(path: str | Path) -> dict[str, dict[str, list]]:
    """Read ``{candidate: {param: [values]}}`` overrides from a YAML or JSON file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"search space file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # yaml and json raise unrelated error types
        raise ConfigError(f"cannot parse search space {path.name}: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(f"{path.name} must map candidate names to {{param: [values]}}")
    unknown = [n for n in data if n not in CANDIDATES]
    if unknown:
        raise ConfigError(f"{path.name} names unknown candidate(s) {unknown}")
    space = {}
    for name, params in data.items():
        space[name] = {}
        for param, values in params.items():
            values = values if isinstance(values, list) else [values]
            if name == "nn" and param == "hidden":
                values = [tuple(v) if isinstance(v, list) else (v,) for v in values]
            space[name][param] = values
    return space
