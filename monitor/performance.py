"""Live task metrics: logged predictions joined with actuals on request id, per window.

Windows are consecutive runs of ``window`` joined rows in log order (a trailing run
shorter than half a window joins the one before). The latest window is graded against
the model card's test metric: relative degradation ``(live - test) / |test|`` for
lower-is-better metrics (RMSE, MAE), ``(test - live) / |test|`` for higher-is-better
ones (accuracy, F1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgekit.monitor.drift import Check, Thresholds
from edgekit.runtime.errors import ConfigError, DataError

REPORTED = {"regression": ("rmse", "mae"), "classification": ("accuracy", "f1_macro")}


@dataclass
class Performance:
    """Metrics over windows of joined rows and the graded check of the latest window."""

    metric: str
    greater_is_better: bool
    reference: float
    latest: float | None
    overall: dict[str, float]
    degradation: float | None
    check: Check
    joined_rows: int
    unmatched_actuals: int
    predictions_without_actuals: int
    window: int
    windows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.check.status

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status
        return data


def label_text(value: Any) -> str:
    """A label as the card's keys spell it: integral numbers without '.0'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def join_actuals(request_ids: np.ndarray, frame, id_column: str, target_column: str) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """(positions in the log, actual values, notes, unmatched count) for rows with an actual."""
    for column in (id_column, target_column):
        if column not in frame.columns:
            raise DataError(f"actuals have no column {column!r}", hint=f"columns are {list(frame.columns)}")
    notes = []
    frame = frame[[id_column, target_column]].dropna(subset=[target_column])
    ids = frame[id_column].map(label_text)
    duplicated = ids.duplicated(keep="last")
    if duplicated.any():
        notes.append(f"{int(duplicated.sum())} duplicate request id(s) in the actuals: the last value of each is used")
    actual_by_id = dict(zip(ids[~duplicated], frame[target_column][~duplicated]))
    positions, values = [], []
    for i, request_id in enumerate(request_ids.tolist()):
        if request_id in actual_by_id:
            positions.append(i)
            values.append(actual_by_id[request_id])
    unmatched = len(actual_by_id) - len(positions)
    return np.asarray(positions, dtype=np.int64), np.asarray(values, dtype=object), notes, unmatched


def windows_of(n: int, size: int) -> list[tuple[int, int]]:
    if size < 1:
        raise ConfigError(f"--window must be at least 1, got {size}")
    bounds = [(start, min(start + size, n)) for start in range(0, n, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < size / 2:
        last = bounds.pop()
        bounds[-1] = (bounds[-1][0], last[1])
    return bounds


def evaluate_performance(
    *, task: str, labels: list[Any] | None, predictions: np.ndarray, timestamps: np.ndarray, request_ids: np.ndarray,
    actuals, id_column: str, target_column: str, window: int, metric: str, reference: float, thresholds: Thresholds,
) -> Performance:
    from edgekit.train.metrics import METRICS, get_metric

    graded = get_metric(metric, task)
    positions, values, notes, unmatched = join_actuals(request_ids, actuals, id_column, target_column)
    if not len(positions):
        raise DataError(
            f"no actual matches a logged request id (column {id_column!r})",
            hint="the actuals' id column must hold the request ids the log returned",
        )
    y_pred = predictions[positions]
    if task == "regression":
        try:
            y_true = values.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"actuals column {target_column!r} is not numeric: {exc}") from exc
        y_pred = y_pred.astype(np.float64)
    else:
        index = {label_text(v): i for i, v in enumerate(labels or [])}
        y_true = np.asarray([index.get(label_text(v), -1) for v in values], dtype=np.int64)
        y_pred = np.asarray([index.get(label_text(v), -1) for v in y_pred], dtype=np.int64)
        unknown = int((y_true < 0).sum())
        if unknown:
            notes.append(f"{unknown} actual label(s) are not among the model's labels; they count as errors")
    names = list(dict.fromkeys([*REPORTED[task], graded.name]))

    def scores(lo: int, hi: int) -> dict[str, float]:
        return {name: METRICS[name].fn(y_true[lo:hi], y_pred[lo:hi]) for name in names}

    times = timestamps[positions]
    windows = [
        {"index": k, "rows": hi - lo, "start": float(times[lo]), "end": float(times[hi - 1]), "metrics": scores(lo, hi)}
        for k, (lo, hi) in enumerate(windows_of(len(positions), window))
    ]
    latest = windows[-1]
    value = latest["metrics"][graded.name]
    degradation = _degradation(value, reference, graded.greater_is_better)
    if latest["rows"] < thresholds.min_metric_rows:
        status, note = "ok", f"only {latest['rows']} row(s) with actuals in the latest window; not graded below {thresholds.min_metric_rows}"
    else:
        status = "alert" if degradation >= thresholds.metric_alert else "warn" if degradation >= thresholds.metric_warn else "ok"
        note = None
    rule = f"warn >= {thresholds.metric_warn:.0%}, alert >= {thresholds.metric_alert:.0%} worse than test {graded.name} {reference:.4g}"
    return Performance(
        metric=graded.name, greater_is_better=graded.greater_is_better, reference=float(reference), latest=float(value),
        overall=scores(0, len(positions)), degradation=float(degradation), check=Check("metric", status, float(value), None, rule, note),
        joined_rows=int(len(positions)), unmatched_actuals=int(unmatched),
        predictions_without_actuals=int(len(request_ids) - len(positions)), window=window, windows=windows, notes=notes,
    )


def _degradation(value: float, reference: float, greater_is_better: bool) -> float:
    worse = (reference - value) if greater_is_better else (value - reference)
    if reference == 0:
        return float("inf") if worse > 0 else 0.0
    return worse / abs(reference)
