"""``run_monitor``: a prediction log and the bundle it came from in, a graded report out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.monitor.drift import FeatureDrift, Thresholds, categorical_drift, category_labels, numeric_drift
from edgekit.monitor.performance import evaluate_performance, label_text
from edgekit.monitor.report import PREDICTION, MonitorReport
from edgekit.runtime.errors import DataError, ModelLoadError
from edgekit.runtime.prediction_log import LogData, read_log

DEFAULT_WINDOW = 200
DEFAULT_ID_COLUMN = "request_id"


def run_monitor(
    log: str | os.PathLike,
    bundle: Any,
    *,
    actuals: Any = None,
    id_column: str = DEFAULT_ID_COLUMN,
    target_column: str | None = None,
    window: int = DEFAULT_WINDOW,
    metric: str | None = None,
    thresholds: Thresholds | None = None,
    model_id: str | None = None,
    last: int | None = None,
    out: str | os.PathLike | None = None,
    plots: bool = True,
) -> MonitorReport:
    """Check logged predictions for input, prediction and (with actuals) performance drift.

    ``bundle`` is a bundle folder or a loaded :class:`edgekit.train.Bundle` (an image
    bundle goes to :func:`edgekit.monitor.image_monitor.run_image_monitor`); ``actuals`` a
    CSV/Parquet path or a DataFrame with ``id_column`` (the logged request ids) and
    ``target_column`` (default: the card's target). ``window`` rows per metric window;
    ``metric`` defaults to the card's selection metric. ``model_id`` / ``last`` restrict
    the log to one export / its most recent rows. With ``out``, writes monitor.json,
    monitor.md and monitor.html there.
    """
    from edgekit.train.bundle import Bundle, load_bundle
    from edgekit.train.image_bundle import ImageBundle, is_image_bundle

    if isinstance(bundle, ImageBundle) or (not isinstance(bundle, Bundle) and is_image_bundle(bundle)):
        from edgekit.monitor.image_monitor import run_image_monitor

        return run_image_monitor(log, bundle, actuals=actuals, id_column=id_column, target_column=target_column,
                                 window=window, metric=metric, thresholds=thresholds, model_id=model_id, last=last,
                                 out=out, plots=plots)
    thresholds = thresholds or Thresholds()
    data = read_log(log, model_id=model_id, last=last)
    if not len(data):
        raise DataError(f"{log}: the prediction log holds no predictions" + (" for that model" if model_id else ""))
    loaded = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    card = loaded.card
    if not card.distributions:
        raise DataError(f"{loaded.path}: the model card has no training distributions to compare against",
                        hint="retrain the bundle with this edgekit version")
    _check_compatible(data, card, log)
    notes: list[str] = []
    train = _training_rows(loaded, notes)
    features = []
    for feature in card.schema:
        summary = card.distributions.get(feature.name)
        if summary is None:
            notes.append(f"the model card has no training summary for {feature.name!r}; not checked")
            continue
        live = data.columns[feature.name]
        if summary["kind"] == "numeric":
            reference = _numeric_column(train, feature.name) if train is not None else None
            features.append(numeric_drift(feature.name, live, summary, reference, thresholds))
        else:
            features.append(categorical_drift(feature.name, category_labels(live, is_string=feature.is_string), summary, thresholds))
    prediction = _prediction_drift(data, loaded, train, thresholds, notes)
    performance = None
    if actuals is not None:
        name = metric or card.metric["name"]
        if name not in card.test_metrics:
            raise DataError(f"the model card has no test {name!r} to compare with", hint=f"it has {sorted(card.test_metrics)}")
        performance = evaluate_performance(
            task=card.task, labels=card.labels, predictions=data.predictions, timestamps=data.timestamps,
            request_ids=data.request_ids, actuals=_actuals_frame(actuals, id_column), id_column=id_column,
            target_column=target_column or card.target, window=window, metric=name,
            reference=float(card.test_metrics[name]), thresholds=thresholds,
        )
    report = MonitorReport(
        log=str(log), bundle=str(loaded.path), task=card.task, target=card.target,
        model_ids=list(dict.fromkeys(data.model_ids.tolist())), rows=len(data),
        first=float(data.timestamps.min()), last=float(data.timestamps.max()), thresholds=thresholds,
        features=features, prediction=prediction, performance=performance, notes=notes,
    )
    if out is not None:
        from edgekit.monitor.report_html import write_report

        write_report(report, out, plots=plots)
    return report


def _check_compatible(data: LogData, card, log) -> None:
    missing = [n for n in card.schema.names if n not in data.columns]
    if missing:
        raise DataError(
            f"{log}: the log has no feature(s) {missing} that the bundle's model takes",
            hint="monitor a log written by an export of this bundle",
        )
    if data.task is not None and data.task != card.task:
        raise DataError(f"{log}: the log holds {data.task} predictions but the bundle is a {card.task} model")


def _training_rows(bundle, notes: list[str]):
    try:
        return bundle.split("train")
    except (ModelLoadError, OSError, ValueError) as exc:
        notes.append(f"training rows unavailable ({exc}); KS tests use pseudo-samples from the card's percentiles")
        return None


def _numeric_column(frame, name: str) -> np.ndarray:
    import pandas as pd

    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)


def _prediction_drift(data: LogData, bundle, train, thresholds: Thresholds, notes: list[str]) -> FeatureDrift:
    card = bundle.card
    summary = card.distributions.get(PREDICTION)
    if summary is None:
        raise DataError(f"{bundle.path}: the model card has no training prediction summary ({PREDICTION!r})")
    if card.task == "regression":
        reference = None
        if train is not None:
            try:
                reference = bundle.source_model().predict_frame(train)
            except Exception as exc:  # any model failure only costs the exact KS reference
                notes.append(f"cannot predict the training rows ({type(exc).__name__}: {exc}); prediction KS uses the card's percentiles")
        return numeric_drift(PREDICTION, data.predictions.astype(np.float64), summary, reference, thresholds)
    labels = np.asarray([label_text(v) for v in data.predictions.tolist()], dtype=object)
    return categorical_drift(PREDICTION, labels, summary, thresholds)


def _actuals_frame(actuals, id_column: str):
    """A DataFrame as given, or a CSV/Parquet file read with the id column kept as text
    (so an id like "00123" is not turned into the number 123)."""
    if hasattr(actuals, "columns"):
        return actuals
    import pandas as pd

    path = Path(actuals)
    if not path.is_file():
        raise DataError(f"{path}: no such actuals file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={id_column: str}, sep=None, engine="python")
    except Exception as exc:  # pandas/pyarrow raise many unrelated types for unreadable files
        raise DataError(f"{path}: cannot read the actuals: {str(exc).strip().splitlines()[0]}") from exc
