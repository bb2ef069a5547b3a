"""The prediction log for image models: per-image statistics, never pixels.

An :class:`ImagePredictionLog` is the runtime's SQLite :class:`PredictionLog` whose
feature schema is the image statistics of :mod:`edgekit.runtime.image_stats`: each
logged row holds the image's statistics, the predicted label and the class
probabilities. ``edgekit monitor`` compares them with the bundle's images; the layout is
the tabular one, so every log reader (``read_log``, ``log_models``) works unchanged.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from edgekit.runtime.image_stats import image_statistics, statistics_schema
from edgekit.runtime.model import Prediction
from edgekit.runtime.prediction_log import PredictionLog

TASK = "classification"


class ImagePredictionLog:
    """Log image predictions of one model (``model_id``: its file's sha256)."""

    def __init__(self, path: str | os.PathLike, *, model_id: str, channel_order: str,
                 class_names: Sequence[Any], **options: Any):
        self.class_names = tuple(class_names)
        self.log_file = PredictionLog(path, model_id=model_id, schema=statistics_schema(channel_order), task=TASK,
                                      labels=self.class_names, **options)

    @property
    def path(self):
        return self.log_file.path

    def log(self, pixels: np.ndarray, labels: Sequence[Any], probabilities: np.ndarray,
            request_ids: Sequence[Any] | None = None) -> list[str]:
        """Buffer one batch (uint8 [n, h, w, c] as the model took it); return its request ids."""
        columns = image_statistics(pixels)
        prediction = Prediction(TASK, np.asarray(list(labels), dtype=object), np.asarray(probabilities), self.class_names)
        return self.log_file.log(columns, prediction, request_ids)

    def flush(self) -> bool:
        return self.log_file.flush()

    def close(self) -> None:
        self.log_file.close()

    @property
    def stats(self) -> dict[str, Any]:
        return self.log_file.stats

    def __enter__(self) -> "ImagePredictionLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
