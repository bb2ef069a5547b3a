import numpy as np
import pytest

from edgekit.runtime import ConfigError
from edgekit.train import evaluate, get_metric


def test_regression_metrics_by_hand():
    y, p = np.array([3.0, 5.0, 2.0]), np.array([2.0, 5.0, 4.0])
    m = evaluate("regression", y, p)
    assert m["mse"] == pytest.approx(5 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert m["mae"] == pytest.approx(1.0)
    assert m["r2"] == pytest.approx(1 - 5 / (((y - y.mean()) ** 2).sum()))


def test_classification_metrics_by_hand():
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0, 1, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    m = evaluate("classification", y, p, proba, n_classes=2)
    assert m["accuracy"] == pytest.approx(0.6)
    # class 0: tp 1, fp 1, fn 1 -> f1 0.5; class 1: tp 2, fp 1, fn 1 -> f1 2/3
    assert m["f1_macro"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert m["roc_auc"] == pytest.approx(5 / 6)


def test_metric_must_fit_the_task():
    assert get_metric(None, "regression").name == "rmse"
    assert get_metric(None, "classification").name == "f1_macro"
    with pytest.raises(ConfigError, match="does not apply"):
        get_metric("rmse", "classification")
