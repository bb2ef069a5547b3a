"""What an image model's live traffic is compared with: the bundle's own images.

* **Image statistics** (:mod:`edgekit.runtime.image_stats`) of the training split, as the
  decile/percentile summaries the tabular card keeps for a feature, plus the exact values
  for the KS test. The summaries are saved beside the card in ``image_reference.json`` at
  the first monitor run, so a bundle later shipped without ``data/images.npz`` still
  monitors (KS then uses pseudo-samples from the percentiles).
* **Predictions**: the predicted classes and the confidence (top probability) of the
  *logged* model on the test split, the only images held out from both fitting and model
  selection: training images set the bar too high, and so does the validation split,
  which early stopping and the search chose the model on (measured: 67 % of validation
  images above 0.992 confidence vs 47 % of test images, a KS alert on unchanged data). The model is found by the sha256 the log records: one of the bundle's
  exports, or its Keras source model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgekit.runtime.errors import DataError, ModelLoadError
from edgekit.runtime.image_stats import image_statistics, statistic_names
from edgekit.runtime.io import file_sha256

REFERENCE_FILE = "image_reference.json"
REFERENCE_VERSION = 1
CHUNK = 256  # images per statistics call: bounded memory for large photos
MODEL_SUFFIXES = (".tflite", ".onnx", ".ort")
LOG_DECIMALS = 6  # the prediction log rounds probabilities to 1e-6


@dataclass(frozen=True)
class StatisticsReference:
    summaries: dict[str, dict[str, Any]]  # per statistic: the tabular card's numeric summary
    values: dict[str, np.ndarray] | None  # exact training values (None: from the saved file)
    source: str


@dataclass(frozen=True)
class PredictionReference:
    classes: dict[str, Any]  # categorical summary of the predicted labels
    confidence: np.ndarray | None  # top probability per image (None: no model to run)
    source: str


def statistics_of(pixels: np.ndarray) -> dict[str, np.ndarray]:
    parts = [image_statistics(pixels[i : i + CHUNK]) for i in range(0, len(pixels), CHUNK)]
    if not parts:
        raise DataError("no images to compute statistics of")
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def statistics_reference(bundle, notes: list[str]) -> StatisticsReference:
    """The training split's statistics (or, without the images, the saved summaries)."""
    from edgekit.train.card import numeric_summary

    card = bundle.card
    names = statistic_names(card.input["channel_order"])
    try:
        train = bundle.split("train")
    except ModelLoadError as exc:
        saved = read_saved(bundle)
        if saved is None:
            raise DataError(f"{bundle.path}: neither the training images nor {REFERENCE_FILE} are there to compare with",
                            hint="monitor against the bundle 'edgekit train' wrote") from exc
        notes.append(f"training images unavailable ({exc.message}); compared with {REFERENCE_FILE}, "
                     "KS tests use pseudo-samples from its percentiles")
        return StatisticsReference({n: saved["statistics"][n] for n in names}, None, saved["of"])
    values = statistics_of(train.x)
    return StatisticsReference({n: numeric_summary(values[n]) for n in names}, values,
                               f"training split ({len(train.x)} images)")


def save_reference(bundle, statistics: StatisticsReference, model_id: str | None,
                   predictions: "PredictionReference | None", notes: list[str]) -> None:
    """Keep the summaries in the bundle (the statistics, and each monitored model's
    prediction reference), so it still monitors without its images."""
    from edgekit.runtime.io import write_text
    from edgekit.train.card import numeric_summary

    card = bundle.card
    document = read_saved(bundle) or {"reference_version": REFERENCE_VERSION, "of": statistics.source,
                                      "fingerprint": _fingerprint(card),
                                      "channel_order": card.input["channel_order"], "statistics": {}, "predictions": {}}
    changed = not document["statistics"]
    if changed:
        document["statistics"] = statistics.summaries
    saved = document.setdefault("predictions", {})
    if model_id is not None and predictions is not None and predictions.confidence is not None and model_id not in saved:
        saved[model_id] = {"of": predictions.source, "classes": predictions.classes,
                           "confidence": numeric_summary(predictions.confidence)}
        changed = True
    if not changed:
        return
    try:
        write_text(Path(bundle.path) / REFERENCE_FILE, json.dumps(document, indent=2))
    except OSError as exc:  # a read-only bundle still monitors; it just cannot keep the file
        notes.append(f"cannot save {REFERENCE_FILE} in the bundle ({exc.strerror or exc})")


def _fingerprint(card) -> dict[str, Any]:
    return {"data_sha256": card.data.get("sha256"), "train_images": card.splits.get("train"),
            "created_at": card.created_at}


def read_saved(bundle) -> dict[str, Any] | None:
    """The saved reference when it belongs to this card's training split, else None."""
    card = bundle.card
    try:
        document = json.loads((Path(bundle.path) / REFERENCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (not isinstance(document, dict) or document.get("reference_version") != REFERENCE_VERSION
            or document.get("fingerprint") != _fingerprint(card)):
        return None
    names = statistic_names(card.input["channel_order"])
    if not all(n in document.get("statistics", {}) for n in names):
        return None
    return document


def prediction_reference(bundle, model_ids: Sequence[str], notes: list[str]) -> tuple[str | None, PredictionReference]:
    """(model id, reference): predicted classes and confidence of the logged model on the
    test split, or as saved for that model when the bundle has no images."""
    from edgekit.train.card import categorical_summary
    import pandas as pd

    names = list(bundle.card.class_names)
    try:
        split_name, split = "test", bundle.split("test")
        if not len(split.x):
            split_name, split = "validation", bundle.split("validation")
    except ModelLoadError as exc:
        saved = (read_saved(bundle) or {}).get("predictions", {})
        for model_id in dict.fromkeys(reversed(list(model_ids))):
            if model_id in saved:
                entry = saved[model_id]
                confidence = _pseudo_sample(entry["confidence"])
                return model_id, PredictionReference(entry["classes"], confidence, f"{entry['of']} (saved in {REFERENCE_FILE})")
        raise DataError(f"{bundle.path}: no held-out images to set the prediction reference ({exc.message})") from exc
    found = find_model(bundle, model_ids)
    if found is None:
        notes.append(f"the logged model ({', '.join(dict.fromkeys(m[:12] for m in model_ids))}) is neither an export of "
                     f"this bundle nor its source model: predicted classes are compared with the {split_name} split's "
                     "true classes and confidence is not checked")
        labels = [names[int(i)] for i in split.y]
        return None, PredictionReference(categorical_summary(pd.Series(labels)), None, f"{split_name} split's true classes")
    model_id, what, run = found
    probabilities = run(split.x)
    labels = [names[int(i)] for i in np.argmax(probabilities, axis=1)]
    source = f"{what} on the {split_name} split ({len(split.x)} images)"
    # Rounded as the log rounds probabilities (1e-6): an int8 model's confidences sit on a
    # few exact values (k/256), and an unrounded 253/256 would fall on the other side of a
    # bin edge than its logged 0.988281.
    confidence = np.round(probabilities.max(axis=1).astype(np.float64), LOG_DECIMALS)
    return model_id, PredictionReference(categorical_summary(pd.Series(labels)), confidence, source)


def _pseudo_sample(summary: dict[str, Any]) -> np.ndarray:
    from edgekit.monitor.stats import reference_from_quantiles

    return reference_from_quantiles(summary["quantiles"], int(summary["count"]))


def find_model(bundle, model_ids: Sequence[str]):
    """(model id, description, probabilities function) of the bundle model whose sha256
    the log names (the most recent one when the log holds several), or None."""
    wanted = list(dict.fromkeys(reversed(list(model_ids))))  # most recent first
    candidates: dict[str, Path] = {}
    exports = Path(bundle.path) / "exports"
    if exports.is_dir():
        for file in sorted(exports.glob("*/model.*")):
            if file.suffix.lower() in MODEL_SUFFIXES and file.parent.name != "rejected":
                candidates[file_sha256(file)] = file
    source = bundle.model_file
    for model_id in wanted:
        if model_id in candidates:
            file = candidates[model_id]
            return model_id, f"export {file.parent.name}", _export_probabilities(file)
        if source.is_file() and model_id == file_sha256(source):
            return model_id, "the Keras source model", _keras_probabilities(bundle)
    return None




def _export_probabilities(file: Path):
    def run(pixels: np.ndarray) -> np.ndarray:
        from edgekit.runtime import load

        with load(file) as model:
            return model.probabilities(model.pixels(pixels))

    return run


def _keras_probabilities(bundle):
    def run(pixels: np.ndarray) -> np.ndarray:
        model = bundle.load_model()
        return np.asarray(model.predict(pixels.astype(np.float32), verbose=0, batch_size=256), dtype=np.float32)

    return run
