"""The image model card: classes, input, training-set pixel statistics, test metrics, skipped files.

The pixel statistics (per-channel mean/std and a histogram of each image's mean
brightness, on 0..255) describe the training distribution, so later streams of photos can
be compared with it without keeping any pixels.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

import numpy as np

from edgekit.runtime.errors import ModelLoadError

KIND = "image"
CARD_VERSION = 1
BRIGHTNESS_BINS = 16
# ITU-R 601-2 luma, the weights Pillow uses to turn RGB into grayscale.
LUMA = np.asarray([0.299, 0.587, 0.114])
TOP_K = (2, 3, 5)


@dataclass(frozen=True)
class ImageModelCard:
    class_names: list[str]
    input: dict[str, Any]  # name, height, width, channels, channel_order, pixel_range, dtype
    network: dict[str, Any]  # architecture, params, weights, network_size
    winner: dict[str, Any]
    leaderboard: list[dict[str, Any]]
    test_metrics: dict[str, Any]
    validation_metrics: dict[str, Any]
    pixel_statistics: dict[str, Any]
    data: dict[str, Any]  # name, source, sha256, images, per-class counts, resized, skipped files
    splits: dict[str, Any]
    config: dict[str, Any]
    library_versions: dict[str, str]
    edgekit_version: str = ""
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    kind: str = KIND
    card_version: int = CARD_VERSION
    misclassified: list[dict[str, Any]] = field(default_factory=list)  # image_plots.misclassified

    @property
    def skipped(self) -> list[dict[str, str]]:
        return list(self.data.get("skipped", []))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_plain)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ImageModelCard":
        if not isinstance(data, Mapping) or data.get("kind") != KIND:
            raise ModelLoadError("not an image model card (kind is not 'image')")
        if int(data.get("card_version", CARD_VERSION)) > CARD_VERSION:
            raise ModelLoadError(f"image card version {data['card_version']} is newer than this edgekit understands")
        try:
            card = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
            names, spec = card.class_names, card.input
            if not (isinstance(names, list) and len(names) >= 2):
                raise ValueError("class_names must list at least two classes")
            for key in ("name", "height", "width", "channels", "channel_order"):
                spec[key]  # noqa: B018 - every stage relies on these
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"malformed image model card: {exc!r}") from exc
        return card


def image_metrics(y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro/weighted precision/recall/F1, per-class metrics, the confusion
    matrix (rows: true class) and top-k accuracy for each k below the number of classes."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, top_k_accuracy_score

    y_true = np.asarray(y_true, dtype=np.int64)
    labels = list(range(len(class_names)))
    y_pred = np.argmax(proba, axis=1)
    report: dict[str, Any] = {"images": int(len(y_true)), "accuracy": float(np.mean(y_pred == y_true))}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average, zero_division=0)
        report.update({f"precision_{average}": float(p), f"recall_{average}": float(r), f"f1_{average}": float(f)})
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    report["per_class"] = {name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                           for i, name in enumerate(class_names)}
    report["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    report["top_k_accuracy"] = {f"top_{k}": float(top_k_accuracy_score(y_true, proba, k=k, labels=labels))
                                for k in TOP_K if k < len(class_names)}
    return report


def pixel_statistics(images: np.ndarray, channel_order: str) -> dict[str, Any]:
    """Per-channel mean/std and the brightness histogram of uint8 [n, h, w, c] images."""
    pixels = images.astype(np.float64)
    per_image = pixels.mean(axis=(1, 2))  # [n, c]
    brightness = per_image[:, 0] if images.shape[-1] == 1 else per_image @ LUMA
    edges = np.linspace(0.0, 255.0, BRIGHTNESS_BINS + 1)
    counts, _ = np.histogram(brightness, bins=edges)
    channels = {name: {"mean": float(pixels[..., i].mean()), "std": float(pixels[..., i].std())}
                for i, name in enumerate(channel_order)}
    return {
        "images": int(len(images)),
        "pixel_range": [0, 255],
        "channels": channels,
        "brightness": {"mean": float(brightness.mean()), "std": float(brightness.std()),
                       "edges": [float(e) for e in edges], "counts": [int(c) for c in counts],
                       "of": "each image's mean brightness (luma for RGB)"},
    }


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
