"""The artifact bundle: model file, model card and the data split, written atomically.

Layout::

    BUNDLE/model_card.json
    BUNDLE/model.keras | BUNDLE/model.skops   (never pickle)
    BUNDLE/data/train.csv, BUNDLE/data/test.csv

Keras files load with ``safe_mode=True`` and only edgekit's own layer classes; skops files
load only if every type they reference is on an explicit allow-list.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from edgekit.runtime.errors import MissingDependencyError, ModelLoadError
from edgekit.runtime.io import atomic_directory, write_text
from edgekit.train.card import ModelCard

CARD_FILE = "model_card.json"
MODEL_FILES = {"keras": "model.keras", "sklearn": "model.skops"}
DATA_DIR = "data"
SPLITS = ("train", "test")

# Types skops does not trust by default that edgekit's own pipelines contain. Anything else
# in a .skops file is refused and named.
TRUSTED_SKOPS_TYPES = (
    "numpy.dtype",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)


def save_bundle(out: str | os.PathLike, card: ModelCard, model: Any, splits: dict[str, pd.DataFrame], *, replace: bool = False) -> Path:
    """Write a bundle; the folder appears complete or not at all."""
    out = Path(out)
    with atomic_directory(out, replace=replace) as tmp:
        model_path = tmp / MODEL_FILES[card.framework]
        if card.framework == "keras":
            model.save(model_path)
        else:
            import skops.io as sio

            sio.dump(model, model_path)
        (tmp / DATA_DIR).mkdir()
        columns = card.schema.names + [card.target]
        for name, frame in splits.items():
            frame[columns].to_csv(tmp / DATA_DIR / f"{name}.csv", index=False)
        write_text(tmp / CARD_FILE, card.to_json())
    return out


@dataclass
class Bundle:
    path: Path
    card: ModelCard
    model: Any

    @property
    def framework(self) -> str:
        return self.card.framework

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILES[self.framework]

    @property
    def model_sha256(self) -> str:
        return hashlib.sha256(self.model_file.read_bytes()).hexdigest()

    def split(self, name: str) -> pd.DataFrame:
        """The raw rows of a split (features and target) as saved at training time."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}")
        path = self.path / DATA_DIR / f"{name}.csv"
        if not path.is_file():
            raise ModelLoadError(f"{self.path}: bundle has no {name} split at {path}")
        try:
            frame = pd.read_csv(path)
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:  # incl. UnicodeDecodeError
            raise ModelLoadError(f"{path}: unreadable {name} split: {str(exc).strip().splitlines()[0]}") from exc
        missing = [c for c in self.card.schema.names + [self.card.target] if c not in frame.columns]
        if missing:
            raise ModelLoadError(f"{path}: the {name} split lacks column(s) {missing} named in the model card")
        for f in self.card.schema:
            if f.is_string:
                frame[f.name] = frame[f.name].map(lambda v: v if pd.isna(v) else str(v)).astype(object)
        return frame

    def source_model(self):
        from edgekit.train.source import SourceModel

        return SourceModel.from_bundle(self)


def load_bundle(path: str | os.PathLike) -> Bundle:
    path = Path(path)
    if not path.is_dir():
        raise ModelLoadError(f"{path}: not a bundle folder", hint="train one with 'edgekit train DATA --target COL --out DIR'")
    card_path = path / CARD_FILE
    if not card_path.is_file():
        raise ModelLoadError(f"{path}: no {CARD_FILE}; not an edgekit bundle")
    try:
        card = ModelCard.from_dict(json.loads(card_path.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise ModelLoadError(f"{card_path}: not valid JSON: {exc}") from exc
    framework = card.winner.get("framework")
    if framework not in MODEL_FILES:
        raise ModelLoadError(f"{card_path}: unknown framework {framework!r}")
    model_path = path / MODEL_FILES[framework]
    if not model_path.is_file():
        raise ModelLoadError(f"{path}: missing {model_path.name}")
    model = load_keras(model_path) if framework == "keras" else load_skops(model_path)
    return Bundle(path, card, model)


def load_keras(path: Path):
    try:
        from edgekit.train.keras_model import _keras, custom_objects
    except ImportError as exc:
        raise MissingDependencyError("tensorflow/keras", "train", purpose="to load .keras models") from exc
    keras = _keras()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return keras.saving.load_model(path, safe_mode=True, custom_objects=custom_objects(), compile=False)
    except Exception as exc:  # keras raises ValueError, TypeError, zipfile errors, ...
        text = str(exc)
        if "Lambda" in text or "safe_mode" in text:
            raise ModelLoadError(
                f"{path.name}: refused: the model contains a Lambda layer or other arbitrary code",
                hint="edgekit loads Keras files with safe_mode=True; rebuild the model without Lambda layers",
            ) from exc
        raise ModelLoadError(f"{path.name}: cannot load as a Keras model: {text.splitlines()[0] if text else type(exc).__name__}") from exc


def load_skops(path: Path):
    try:
        import skops.io as sio
    except ImportError as exc:
        raise MissingDependencyError("skops", "train", purpose="to load scikit-learn models") from exc
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # corrupt zip, bad JSON schema, ...
        raise ModelLoadError(f"{path.name}: not a readable skops file: {exc}") from exc
    refused = [t for t in untrusted if t not in TRUSTED_SKOPS_TYPES]
    if refused:
        raise ModelLoadError(
            f"{path.name}: refused: it references untrusted type(s) {refused}",
            hint="edgekit only loads scikit-learn pipelines it can vouch for; inspect the file with skops",
        )
    try:
        return sio.load(path, trusted=untrusted)
    except Exception as exc:
        raise ModelLoadError(f"{path.name}: cannot load the skops file: {exc}") from exc
