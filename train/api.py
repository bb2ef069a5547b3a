"""``train``: data in, a selected, evaluated and documented model out."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgekit.console import progress
from edgekit.runtime.errors import ConfigError, DataError
from edgekit.runtime.schema import Schema
from edgekit.train import card as cards
from edgekit.train.bundle import save_bundle
from edgekit.train.candidates import CANDIDATES, load_search_space, select_candidates
from edgekit.train.datasets import load_dataset
from edgekit.train.metrics import Metric, evaluate, get_metric
from edgekit.train.prepare import SPLITS, check_target, clean, features_frame, infer_task, split
from edgekit.train.schema_infer import build_schema, plan_columns
from edgekit.train.search import CandidateResult, jsonable, pick_winner, run_search

TASKS = ("regression", "classification")
DEFAULT_FOLDS = 5


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; recorded in the card so a retrain can repeat it."""

    target: str
    task: str | None = None
    models: tuple[str, ...] | None = None
    search: str = "grid"
    n_iter: int = 10
    cv: int | None = None  # None: 5 folds, fewer when there are fewer training rows
    metric: str | None = None
    test_size: float = 0.2
    seed: int = 0
    split: str = "random"
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    impute: str = "median"
    search_space: str | None = None
    quick: bool = False
    exhaustive: bool = False  # every setting on every fold instead of successive halving

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key in ("models", "categorical", "numeric", "drop"):
            data[key] = list(data[key]) if data[key] is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("models", "categorical", "numeric", "drop"):
            if known.get(key) is not None:
                known[key] = tuple(known[key])
        return cls(**known)


@dataclass
class _Prepared:
    """The prepared data of a run, kept so other candidates can be refit later."""

    dataset_name: str
    data_info: dict[str, Any]
    schema: Schema
    task: str
    labels: list[Any] | None
    train: pd.DataFrame
    test: pd.DataFrame
    x_train: pd.DataFrame
    y_train: np.ndarray
    x_test: pd.DataFrame
    y_test: np.ndarray
    preparation: dict[str, Any]


@dataclass
class TrainResult:
    card: cards.ModelCard
    model: Any
    results: list[CandidateResult]
    config: TrainConfig
    prepared: _Prepared = field(repr=False)
    metric: Metric = field(repr=False)

    @property
    def splits(self) -> dict[str, pd.DataFrame]:
        return {"train": self.prepared.train, "test": self.prepared.test}

    def save(self, out: str | os.PathLike, *, replace: bool = False) -> Path:
        return save_bundle(out, self.card, self.model, self.splits, replace=replace)

    def alternative(self, name: str, *, show_progress: bool | None = None) -> "TrainResult":
        """Refit another candidate (its best parameters) as if it had won, e.g. the best
        neural network when a forest won but a .tflite export is wanted."""
        result = next((r for r in self.results if r.name == name), None)
        if result is None or result.best is None:
            raise ConfigError(f"candidate {name!r} was not trained successfully in this run")
        return _finalize(result, self.results, self.config, self.prepared, self.metric, show_progress,
                         selected_by="requested as the best of its family")


def train(data: str | os.PathLike, config: TrainConfig, *, n_jobs: int = -1, show_progress: bool | None = None,
          scheduler: str | None = None, client: Any = None) -> TrainResult:
    """Prepare ``data``, cross-validate the candidates, refit and evaluate the winner.

    The cross-validation fits run in ``n_jobs`` local processes, or on a Dask cluster:
    ``scheduler`` is ``local[:N]`` (a LocalCluster for this run) or ``tcp://HOST:PORT``, or
    pass a connected ``distributed.Client`` as ``client``. Either way the leaderboard and the
    winner are the ones a local run finds; the refit of the winner runs here."""
    if scheduler is not None and client is not None:
        raise ConfigError("give either scheduler or client, not both")
    if scheduler is not None:
        # Connect before preparing anything, so an unusable address fails at once.
        from edgekit.scale.cluster import connect, parse_scheduler

        with connect(parse_scheduler(scheduler)) as dask_client:
            return train(data, config, n_jobs=n_jobs, show_progress=show_progress, client=dask_client)
    if config.split not in SPLITS:
        raise ConfigError(f"unknown --split {config.split!r}; choose one of {SPLITS}")
    if config.task is not None and config.task not in TASKS:
        raise ConfigError(f"unknown --task {config.task!r}; choose one of {TASKS}")
    candidates = select_candidates(list(config.models) if config.models else None)
    overrides = load_search_space(config.search_space) if config.search_space else None
    prepared = _prepare(data, config)
    metric = get_metric(config.metric, prepared.task)
    folds = config.cv if config.cv is not None else min(DEFAULT_FOLDS, len(prepared.y_train))
    config = replace(config, cv=folds)
    with progress("cross-validation", show=show_progress) as bar:
        if client is not None:
            bar.note(f"cross-validation on the Dask cluster at {client.scheduler.address} "
                     f"({len(client.scheduler_info()['workers'])} workers)")
        results = run_search(
            candidates, prepared.x_train, prepared.y_train,
            task=prepared.task, schema=prepared.schema, metric=metric, strategy=config.search,
            n_iter=config.n_iter, cv=folds, seed=config.seed, impute=config.impute, quick=config.quick,
            overrides=overrides, n_jobs=n_jobs, halving=not config.exhaustive, client=client, on_start=bar.total,
            on_fold=lambda name: bar.advance(description=f"cross-validation: {name}"), on_note=bar.note,
        )
    winner = pick_winner(results, metric)
    return _finalize(winner, results, config, prepared, metric, show_progress, selected_by=f"best cross-validated {metric.name}")


def _prepare(data, config: TrainConfig) -> _Prepared:
    dataset = load_dataset(data)
    frame, report = clean(dataset.frame, config.target)
    target = frame[config.target]
    task = config.task or infer_task(target)
    check_target(target, task, config.target)
    plan = plan_columns(frame, config.target, categorical=config.categorical, numeric=config.numeric, drop=config.drop)
    train_df, test_df = split(frame, config.target, task, mode=config.split, test_size=config.test_size,
                              seed=config.seed, columns=plan.columns)
    if config.cv is not None and len(train_df) < config.cv:
        raise DataError(f"only {len(train_df)} training rows for {config.cv}-fold cross-validation",
                        hint="lower --cv or provide more rows")
    if len(train_df) < 2:
        raise DataError(f"only {len(train_df)} training row(s); cross-validation needs at least 2", hint="provide more rows")
    if test_df.empty:
        raise DataError("the test split is empty", hint="raise --test-size or provide more rows")
    schema = build_schema(train_df, plan)
    labels = None
    if task == "classification":
        labels = sorted(pd.unique(train_df[config.target]).tolist(), key=lambda v: (str(type(v)), v))
        labels = [v.item() if isinstance(v, np.generic) else v for v in labels]
        unseen = ~test_df[config.target].isin(labels)
        if unseen.any():
            test_df = test_df[~unseen]
        y_train = _encode(train_df[config.target], labels)
        y_test = _encode(test_df[config.target], labels)
    else:
        y_train = train_df[config.target].to_numpy(dtype=np.float64)
        y_test = test_df[config.target].to_numpy(dtype=np.float64)
    preparation = {
        "clean": report.to_dict(),
        "dropped_columns": plan.dropped,
        "numeric_imputation": config.impute,
        "categorical_imputation": "most_frequent",
        "categorical_encoding": "one-hot; unknown categories encode as all zeros",
        "scaling": "standardisation for linear, SVM and neural network; none for tree ensembles",
        "split": {
            "mode": config.split,
            "test_size": config.test_size if config.split == "random" else 0.2,
            "seed": config.seed if config.split == "random" else 0,
            "stratified": task == "classification" and config.split == "random",
            "train_rows": int(len(train_df)),
            "test_rows": int(len(test_df)),
        },
    }
    data_info = {"name": dataset.name, "source": dataset.source, "sha256": dataset.fingerprint, "rows": int(len(dataset.frame))}
    return _Prepared(dataset.name, data_info, schema, task, labels, train_df, test_df,
                     features_frame(train_df, schema), y_train, features_frame(test_df, schema), y_test, preparation)


def _encode(values: pd.Series, labels: list[Any]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    return np.asarray([index[v.item() if isinstance(v, np.generic) else v] for v in values], dtype=np.int64)


def _finalize(winner: CandidateResult, results, config: TrainConfig, prepared: _Prepared, metric: Metric,
              show_progress, *, selected_by: str) -> TrainResult:
    from sklearn.base import clone

    import edgekit

    candidate = CANDIDATES[winner.name]
    estimator = candidate.build(prepared.task, prepared.schema, config.seed, config.impute)
    model = clone(estimator).set_params(**winner.best.params)
    with progress(f"refit {winner.name} on {len(prepared.y_train)} rows", total=1, show=show_progress) as bar:
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(prepared.x_train, prepared.y_train)
        bar.advance()
        test_metrics = _evaluate(model, prepared.x_test, prepared.y_test, prepared)
        bar.note(f"refit {winner.name} on {len(prepared.y_train)} rows: test {metric.name} "
                 f"{test_metrics[metric.name]:.4g} ({time.perf_counter() - started:.1f} s)")
    fitted = model.model_ if candidate.framework == "keras" else model
    train_metrics = _evaluate(model, prepared.x_train, prepared.y_train, prepared)
    distributions = cards.summarize(prepared.train, prepared.schema)
    distributions["__prediction__"] = _prediction_summary(model, prepared)
    card = cards.ModelCard(
        task=prepared.task,
        target=config.target,
        schema=prepared.schema,
        labels=prepared.labels,
        winner={
            "name": winner.name,
            "title": winner.title,
            "framework": candidate.framework,
            "params": jsonable(winner.best.params),
            "cv_mean": winner.best.mean,
            "cv_std": winner.best.std,
            "selected_by": selected_by,
        },
        metric={"name": metric.name, "greater_is_better": metric.greater_is_better},
        leaderboard=_leaderboard(results, metric),
        test_metrics=test_metrics,
        train_metrics=train_metrics,
        preparation=prepared.preparation,
        data=prepared.data_info,
        config=config.to_dict(),
        distributions=distributions,
        seed=config.seed,
        library_versions=cards.library_versions(keras=candidate.framework == "keras"),
        edgekit_version=edgekit.__version__,
    )
    return TrainResult(card, fitted, results, config, prepared, metric)


def _evaluate(model, x: pd.DataFrame, y: np.ndarray, prepared: _Prepared) -> dict[str, Any]:
    if prepared.task == "regression":
        return evaluate("regression", y, model.predict(x))
    proba = model.predict_proba(x)
    return evaluate("classification", y, np.argmax(proba, axis=1), proba, n_classes=len(prepared.labels or []))


def _prediction_summary(model, prepared: _Prepared) -> dict[str, Any]:
    if prepared.task == "regression":
        return cards.numeric_summary(model.predict(prepared.x_train))
    index = np.argmax(model.predict_proba(prepared.x_train), axis=1)
    names = pd.Series([str(prepared.labels[i]) for i in index])
    return cards.categorical_summary(names)


def _leaderboard(results: list[CandidateResult], metric: Metric) -> list[dict[str, Any]]:
    rows = [r.to_dict(metric.name) for r in results]
    finished = [r for r in rows if r["cv_mean"] is not None]
    failed = [r for r in rows if r["cv_mean"] is None]
    finished.sort(key=lambda r: r["cv_mean"], reverse=metric.greater_is_better)
    for rank, row in enumerate(finished, 1):
        row["rank"] = rank
    return finished + failed
