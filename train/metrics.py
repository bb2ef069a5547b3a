"""Task metrics: the selection metric and the full evaluation report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgekit.runtime.errors import ConfigError


@dataclass(frozen=True)
class Metric:
    name: str
    task: str
    greater_is_better: bool
    fn: Callable[[np.ndarray, np.ndarray], float]

    def better(self, a: float, b: float) -> bool:
        return a > b if self.greater_is_better else a < b


def _rmse(y, p):
    return float(np.sqrt(np.mean((np.asarray(y, float) - np.asarray(p, float)) ** 2)))


def _sk(name: str, **kwargs):
    def score(y, p):
        from sklearn import metrics

        return float(getattr(metrics, name)(y, p, **kwargs))

    return score


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("rmse", "regression", False, _rmse),
        Metric("mse", "regression", False, lambda y, p: _rmse(y, p) ** 2),
        Metric("mae", "regression", False, _sk("mean_absolute_error")),
        Metric("r2", "regression", True, _sk("r2_score")),
        Metric("f1_macro", "classification", True, _sk("f1_score", average="macro", zero_division=0)),
        Metric("f1_weighted", "classification", True, _sk("f1_score", average="weighted", zero_division=0)),
        Metric("accuracy", "classification", True, _sk("accuracy_score")),
        Metric("precision_macro", "classification", True, _sk("precision_score", average="macro", zero_division=0)),
        Metric("recall_macro", "classification", True, _sk("recall_score", average="macro", zero_division=0)),
    )
}
DEFAULT_METRIC = {"regression": "rmse", "classification": "f1_macro"}


def get_metric(name: str | None, task: str) -> Metric:
    name = name or DEFAULT_METRIC[task]
    metric = METRICS.get(name)
    if metric is None or metric.task != task:
        valid = [m.name for m in METRICS.values() if m.task == task]
        raise ConfigError(f"metric {name!r} does not apply to {task}", hint=f"choose one of {valid}")
    return metric


def evaluate(task: str, y_true, y_pred, proba: np.ndarray | None = None, n_classes: int | None = None) -> dict:
    """Every metric for the task; classification adds the confusion matrix and ROC AUC (binary)."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if task == "regression":
        return {name: METRICS[name].fn(y_true, y_pred) for name in ("rmse", "mse", "mae", "r2")}
    from sklearn.metrics import confusion_matrix, roc_auc_score

    report = {m.name: m.fn(y_true, y_pred) for m in METRICS.values() if m.task == "classification"}
    labels = list(range(n_classes)) if n_classes else None
    report["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    if proba is not None and proba.shape[1] == 2 and len(np.unique(y_true)) == 2:
        report["roc_auc"] = float(roc_auc_score(y_true, proba[:, 1]))
    return report
