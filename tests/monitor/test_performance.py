"""Joining actuals on request id and grading windowed metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edgekit.monitor.drift import Thresholds
from edgekit.monitor.performance import evaluate_performance, windows_of
from edgekit.runtime.errors import DataError


def regression_case(errors: np.ndarray, *, reference: float = 1.0, window: int = 50, actual_ids=None, **kwargs):
    n = len(errors)
    ids = np.asarray([f"r{i}" for i in range(n)], dtype=object)
    truth = np.linspace(10, 30, n)
    actuals = pd.DataFrame({"request_id": actual_ids if actual_ids is not None else ids, "mpg": truth})
    return evaluate_performance(
        task="regression", labels=None, predictions=truth + errors, timestamps=np.arange(n, dtype=float),
        request_ids=ids, actuals=actuals, id_column="request_id", target_column="mpg", window=window,
        metric="rmse", reference=reference, thresholds=Thresholds(**kwargs),
    )


def test_windows_are_consecutive_and_a_short_tail_joins_the_last_one():
    assert windows_of(9, 4) == [(0, 4), (4, 9)]  # a 1-row tail (< half a window) joins
    assert windows_of(10, 4) == [(0, 4), (4, 8), (8, 10)]  # half a window stands alone
    assert windows_of(12, 4) == [(0, 4), (4, 8), (8, 12)]
    assert windows_of(3, 10) == [(0, 3)]
    assert windows_of(11, 4) == [(0, 4), (4, 8), (8, 11)]


def test_the_latest_window_is_graded_against_the_test_metric():
    errors = np.r_[np.full(100, 1.0), np.full(50, 1.15)]
    perf = regression_case(errors, window=50)
    assert [w["metrics"]["rmse"] for w in perf.windows] == pytest.approx([1.0, 1.0, 1.15])
    assert perf.latest == pytest.approx(1.15) and perf.degradation == pytest.approx(0.15)
    assert perf.status == "warn"
    assert regression_case(np.full(60, 1.25)).status == "alert"
    assert regression_case(np.full(60, 0.5)).status == "ok"  # better than the test split is fine
    assert perf.overall["mae"] == pytest.approx(np.mean(np.abs(errors)))


def test_unmatched_and_duplicate_actuals_are_counted():
    ids = [f"r{i}" for i in range(30)] + ["r0", "unknown"]
    n = 40
    rows = np.asarray([f"r{i}" for i in range(n)], dtype=object)
    actuals = pd.DataFrame({"request_id": ids, "mpg": np.r_[np.arange(30.0), 99.0, 1.0]})
    perf = evaluate_performance(
        task="regression", labels=None, predictions=np.r_[np.arange(30.0), np.zeros(10)], timestamps=np.arange(n, dtype=float),
        request_ids=rows, actuals=actuals, id_column="request_id", target_column="mpg", window=100, metric="mae",
        reference=1.0, thresholds=Thresholds(),
    )
    assert perf.joined_rows == 30 and perf.predictions_without_actuals == 10 and perf.unmatched_actuals == 1
    assert perf.overall["mae"] == pytest.approx(99.0 / 30)  # r0's last actual (99) wins
    assert any("duplicate" in note for note in perf.notes)


def test_too_few_rows_are_not_graded():
    perf = regression_case(np.full(5, 10.0), window=50)
    assert perf.status == "ok" and "not graded" in perf.check.note


def test_classification_accuracy_with_labels_read_back_as_numbers():
    labels = [0, 1, 2]
    truth = np.array([0, 1, 2, 1, 0, 2, 1, 1, 0, 2] * 3)
    predicted = truth.copy()
    predicted[:6] = (predicted[:6] + 1) % 3
    ids = np.asarray([str(i) for i in range(30)], dtype=object)
    actuals = pd.DataFrame({"id": ids, "target": truth.astype(float)})  # labels read back as 0.0, 1.0, ...
    perf = evaluate_performance(
        task="classification", labels=labels, predictions=predicted.astype(object), timestamps=np.arange(30.0),
        request_ids=ids, actuals=actuals, id_column="id", target_column="target", window=100, metric="accuracy",
        reference=0.9, thresholds=Thresholds(),
    )
    assert perf.latest == pytest.approx(0.8) and perf.degradation == pytest.approx(1 / 9)
    assert perf.status == "warn" and set(perf.overall) == {"accuracy", "f1_macro"}


def test_actuals_without_the_columns_or_any_match_are_refused():
    with pytest.raises(DataError, match="no column 'mpg'"):
        evaluate_performance(
            task="regression", labels=None, predictions=np.zeros(2), timestamps=np.zeros(2),
            request_ids=np.array(["a", "b"], dtype=object), actuals=pd.DataFrame({"request_id": ["a"], "y": [1]}),
            id_column="request_id", target_column="mpg", window=10, metric="rmse", reference=1.0, thresholds=Thresholds(),
        )
    with pytest.raises(DataError, match="no actual matches"):
        regression_case(np.zeros(5), actual_ids=[f"other{i}" for i in range(5)])
