"""``run_monitor`` for image bundles: logged image statistics, classes and confidence, graded.

The log (written by ``load(model, log=...)``, ``edgekit predict MODEL FOLDER --log`` or
``edgekit serve --log``) holds one row of image statistics per prediction (see
:mod:`edgekit.runtime.image_stats`), the predicted label and the probabilities. Each
statistic is graded like a numeric feature (PSI on the training split's deciles, KS
against its values), the predicted classes like a categorical one (PSI, chi-square) and
the confidence (top probability) like a numeric one, against the logged model's answers
on the test split (:mod:`edgekit.monitor.image_reference`). With actuals, accuracy
per window is graded against the card's test accuracy.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from edgekit.monitor.drift import Thresholds, categorical_drift, numeric_drift
from edgekit.monitor.image_reference import LOG_DECIMALS, prediction_reference, save_reference, statistics_reference
from edgekit.monitor.performance import evaluate_performance, label_text
from edgekit.monitor.report import PREDICTION, MonitorReport
from edgekit.runtime.errors import DataError
from edgekit.runtime.image_stats import statistic_names
from edgekit.runtime.prediction_log import read_log

TARGET = "label"
CONFIDENCE = "confidence"
DEFINITIONS = ("image statistics per image, on the pixels the model takes: brightness = mean luma (0-255), "
               "contrast = luma std, sharpness = variance of the Laplacian, dark_clipped / bright_clipped = share of "
               "pixels with luma <= 4 / >= 251, edge_orientation = ln of horizontal over vertical gradient energy "
               "(flips sign under a 90-degree rotation), mean_/std_ per RGB channel; confidence = top probability")


def run_image_monitor(log: str | os.PathLike, bundle: Any, *, actuals: Any = None, id_column: str = "request_id",
                      target_column: str | None = None, window: int = 200, metric: str | None = None,
                      thresholds: Thresholds | None = None, model_id: str | None = None, last: int | None = None,
                      out: str | os.PathLike | None = None, plots: bool = True) -> MonitorReport:
    """The image counterpart of :func:`edgekit.monitor.api.run_monitor` (same options)."""
    from edgekit.monitor.api import _actuals_frame
    from edgekit.train.image_bundle import ImageBundle, load_image_bundle

    thresholds = thresholds or Thresholds()
    loaded = bundle if isinstance(bundle, ImageBundle) else load_image_bundle(bundle)
    card = loaded.card
    data = read_log(log, model_id=model_id, last=last)
    if not len(data):
        raise DataError(f"{log}: the prediction log holds no predictions" + (" for that model" if model_id else ""))
    names = statistic_names(card.input["channel_order"])
    missing = [n for n in names if n not in data.columns]
    if missing:
        raise DataError(f"{log}: the log has no image statistic(s) {missing} for this {card.input['channel_order']} "
                        "image model", hint="monitor a log written by an export (or the source) of this image bundle")
    if data.task is not None and data.task != "classification":
        raise DataError(f"{log}: the log holds {data.task} predictions but the bundle classifies images")
    notes = [DEFINITIONS]
    statistics = statistics_reference(loaded, notes)
    features = []
    for name in names:
        reference = statistics.values[name] if statistics.values is not None else None
        features.append(numeric_drift(name, data.columns[name], statistics.summaries[name], reference, thresholds))
    model_ids = list(dict.fromkeys(data.model_ids.tolist()))
    reference_model, predictions = prediction_reference(loaded, data.model_ids.tolist(), notes)
    save_reference(loaded, statistics, reference_model, predictions, notes)
    notes.append(f"statistics compared with the {statistics.source}; predictions with {predictions.source}")
    live_labels = np.asarray([label_text(v) for v in data.predictions.tolist()], dtype=object)
    prediction = categorical_drift(PREDICTION, live_labels, predictions.classes, thresholds)
    if predictions.confidence is not None:
        if data.probabilities is None:
            notes.append("some logged rows have no probabilities: confidence is not checked")
        else:
            from edgekit.train.card import numeric_summary

            summary = numeric_summary(predictions.confidence)
            # The log rounds float32 probabilities (0.99609375 is read back as 0.99609399):
            # both sides on one 1e-6 grid, or an int8 model's tied confidences (k/256) would
            # sit on either side of each other and KS would see a shift that is not there.
            live = np.round(data.probabilities.max(axis=1).astype(np.float64), LOG_DECIMALS)
            features.append(numeric_drift(CONFIDENCE, live, summary, predictions.confidence, thresholds))
    performance = None
    if actuals is not None:
        name = metric or "accuracy"
        if name not in card.test_metrics:
            raise DataError(f"the image card has no test {name!r} to compare with",
                            hint="use accuracy, f1_macro or another of its test metrics")
        performance = evaluate_performance(
            task="classification", labels=list(card.class_names), predictions=data.predictions,
            timestamps=data.timestamps, request_ids=data.request_ids, actuals=_actuals_frame(actuals, id_column),
            id_column=id_column, target_column=target_column or TARGET, window=window, metric=name,
            reference=float(card.test_metrics[name]), thresholds=thresholds,
        )
    report = MonitorReport(
        log=str(log), bundle=str(loaded.path), task="image classification", target=TARGET, model_ids=model_ids,
        rows=len(data), first=float(data.timestamps.min()), last=float(data.timestamps.max()), thresholds=thresholds,
        features=features, prediction=prediction, performance=performance, notes=notes,
    )
    if out is not None:
        from edgekit.monitor.report_html import write_report

        write_report(report, out, plots=plots)
    return report
