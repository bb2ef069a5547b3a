"""Task metrics in plain numpy, for the on-device worker (no scikit-learn on a device)."""

from __future__ import annotations

import numpy as np


def score(task: str, truth, prediction, labels) -> dict[str, float]:
    """RMSE/MAE for regression; accuracy and macro F1 for classification."""
    if task == "regression":
        y = np.asarray(truth, dtype=np.float64)
        p = np.asarray(prediction.values, dtype=np.float64)
        return {"rmse": float(np.sqrt(np.mean((y - p) ** 2))), "mae": float(np.mean(np.abs(y - p)))}
    y = np.asarray([str(v) for v in truth])
    p = np.asarray([str(v) for v in prediction.values])
    return {"accuracy": float(np.mean(y == p)), "f1_macro": f1_macro(y, p, [str(label) for label in labels])}


def f1_macro(y: np.ndarray, p: np.ndarray, labels: list[str]) -> float:
    scores = []
    for label in labels:
        tp = np.sum((p == label) & (y == label))
        fp = np.sum((p == label) & (y != label))
        fn = np.sum((p != label) & (y == label))
        denominator = 2 * tp + fp + fn
        scores.append(0.0 if denominator == 0 else 2 * tp / denominator)
    return float(np.mean(scores))
