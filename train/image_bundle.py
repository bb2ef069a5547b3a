"""The image bundle: the Keras CNN, its image card and the split images, written atomically.

Layout::

    BUNDLE/image_card.json
    BUNDLE/model.keras                 (loaded with safe_mode=True)
    BUNDLE/data/images.npz             x_<split> uint8 [n,h,w,c], y_<split> int64, ids_<split> str
                                       for split in train, validation, test (no pickle)
    BUNDLE/misclassified.png           the card's misclassified test images (when there are any)

The card's name differs from the tabular ``model_card.json`` so no tabular stage mistakes
an image bundle for a table's.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.runtime.errors import ModelLoadError
from edgekit.runtime.io import atomic_directory, write_text
from edgekit.train.image_card import ImageModelCard
from edgekit.train.image_plots import FIGURE_FILE, draw_misclassified

CARD_FILE = "image_card.json"
MODEL_FILE = "model.keras"
IMAGES_FILE = "data/images.npz"
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # uint8 [n, h, w, c]
    y: np.ndarray  # int64 [n]
    ids: np.ndarray  # str [n]


def is_image_bundle(path: str | os.PathLike) -> bool:
    return (Path(path) / CARD_FILE).is_file()


def save_image_bundle(out: str | os.PathLike, card: ImageModelCard, model: Any, splits: dict[str, Split], *,
                      replace: bool = False) -> Path:
    out = Path(out)
    with atomic_directory(out, replace=replace) as tmp:
        model.save(tmp / MODEL_FILE)
        (tmp / IMAGES_FILE).parent.mkdir()
        arrays = {}
        for name, split in splits.items():
            arrays.update({f"x_{name}": split.x, f"y_{name}": split.y, f"ids_{name}": split.ids.astype(str)})
        np.savez_compressed(tmp / IMAGES_FILE, **arrays)
        write_text(tmp / CARD_FILE, card.to_json())
        if "test" in splits:
            draw_misclassified(splits["test"].x, card.misclassified, tmp / FIGURE_FILE)
    return out


@dataclass
class ImageBundle:
    path: Path
    card: ImageModelCard

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILE

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {SPLITS}")
        path = self.path / IMAGES_FILE
        try:
            with np.load(path, allow_pickle=False) as archive:
                return Split(archive[f"x_{name}"], archive[f"y_{name}"].astype(np.int64), archive[f"ids_{name}"])
        except FileNotFoundError as exc:
            raise ModelLoadError(f"{self.path}: image bundle has no {IMAGES_FILE}") from exc
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise ModelLoadError(f"{path}: unreadable {name} split: {exc}") from exc

    def load_model(self):
        from edgekit.train.bundle import load_keras

        return load_keras(self.model_file)


def load_image_bundle(path: str | os.PathLike) -> ImageBundle:
    path = Path(path)
    card_path = path / CARD_FILE
    if not card_path.is_file():
        raise ModelLoadError(f"{path}: no {CARD_FILE}; not an edgekit image bundle",
                             hint="train one with 'edgekit train IMAGE_FOLDER --out DIR'")
    try:
        card = ImageModelCard.from_dict(json.loads(card_path.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise ModelLoadError(f"{card_path}: not valid JSON: {exc}") from exc
    if not (path / MODEL_FILE).is_file():
        raise ModelLoadError(f"{path}: missing {MODEL_FILE}")
    return ImageBundle(path, card)
