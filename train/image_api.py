"""``train_images``: an image folder, ``.npz`` or ``digits-images`` in; a small CNN chosen by a
random search, evaluated on a held-out test split and documented in an image card out.

>>> result = train_images("digits-images", ImageTrainConfig(n_iter=4))
>>> result.save("bundles/digits-images")
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from edgekit.console import progress
from edgekit.runtime.errors import ConfigError
from edgekit.train.image_bundle import Split, save_image_bundle
from edgekit.train.image_card import ImageModelCard, image_metrics, pixel_statistics
from edgekit.train.image_cnn import INPUT_NAME, OUTPUT_NAME, Augmentation, default_augmentation, predict_proba, stages_for
from edgekit.train.image_data import MIN_PER_CLASS, ImageDataset, load_images, split_indices
from edgekit.train.image_plots import misclassified
from edgekit.train.image_mobilenet import (MODELS, check_network_size, default_network_size, mobilenet_trial,
                                            weights_facts)
from edgekit.train.image_search import leaderboard, run_search


@dataclass(frozen=True)
class ImageTrainConfig:
    """Everything that decides an image training run; recorded in the card."""

    image_size: tuple[int, int] | None = None  # None: the data's own (most common) size
    channels: int | None = None  # None: 3 if any image has colour, else 1
    network_size: tuple[int, int] | None = None  # resolution the CNN works at (a Resizing layer inside it)
    n_iter: int = 4  # trials of the random search
    epochs: int = 60  # per trial, at most (early stopping usually ends sooner)
    patience: int = 8
    batch_size: int = 64
    test_size: float = 0.2
    validation_size: float = 0.1
    seed: int = 0
    separable: bool = False
    augment: Augmentation | None = None  # None: default_augmentation for the image size
    time_budget: float | None = None  # seconds after which no new trial starts
    min_per_class: int = MIN_PER_CLASS
    model: str = "cnn"  # or mobilenet_v2 / mobilenet_v3_small (image_mobilenet)
    alpha: float = 0.35  # MobileNet width multiplier
    weights: str | None = None  # local .weights.h5 of a MobileNet backbone: frozen, new head trained
    fine_tune: bool = False  # after the head, unfreeze the backbone for a few epochs at a lower rate

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"unknown image model {self.model!r}", hint=f"choose one of {', '.join(MODELS)}")
        if self.model == "cnn" and (self.weights is not None or self.fine_tune):
            raise ConfigError("--weights and --fine-tune are for a MobileNet backbone", hint="pass --model mobilenet_v2")
        if self.fine_tune and self.weights is None:
            raise ConfigError("--fine-tune needs --weights (without them the whole network trains from scratch)")
        if not 0 < self.alpha <= 2:
            raise ConfigError(f"alpha must be in (0, 2], not {self.alpha}")
        for name in ("n_iter", "epochs", "patience", "batch_size", "min_per_class"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.network_size is not None and min(self.network_size) < 1:
            raise ConfigError(f"network size must be positive, not {self.network_size}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("image_size", "network_size"):
            data[key] = list(data[key]) if data[key] is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ImageTrainConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("image_size", "network_size"):
            if known.get(key) is not None:
                known[key] = tuple(known[key])
        if isinstance(known.get("augment"), dict):  # a card's config: the augmentation that was used
            known["augment"] = Augmentation(**known["augment"])
        return cls(**known)


@dataclass
class ImageTrainResult:
    card: ImageModelCard
    model: Any  # the Keras model
    splits: dict[str, Split]
    config: ImageTrainConfig

    def save(self, out: str | os.PathLike, *, replace: bool = False) -> Path:
        return save_image_bundle(out, self.card, self.model, self.splits, replace=replace)


def train_images(data: str | os.PathLike, config: ImageTrainConfig | None = None, *,
                 show_progress: bool | None = None) -> ImageTrainResult:
    import edgekit
    from edgekit.train.card import library_versions

    config = config or ImageTrainConfig()
    dataset = load_images(data, image_size=config.image_size, channels=config.channels,
                          min_per_class=config.min_per_class)
    augment = config.augment if config.augment is not None else default_augmentation(dataset.height, dataset.width)
    config = replace(config, image_size=(dataset.height, dataset.width), channels=dataset.channels, augment=augment)
    index = split_indices(dataset.labels, test_size=config.test_size, validation_size=config.validation_size,
                          seed=config.seed)
    mobilenet = config.model != "cnn"
    if mobilenet:
        config = replace(config, network_size=config.network_size or default_network_size(dataset.height, dataset.width))
        check_network_size(config.network_size)
    splits = {name: Split(dataset.images[i], dataset.labels[i], dataset.ids[i]) for name, i in index.items()}
    train, validation = splits["train"], splits["validation"]
    with progress("training", total=config.n_iter, show=show_progress) as bar:
        def on_trial(trial: int, total: int) -> None:
            bar.advance(1 if trial > 1 else 0, description=f"trial {trial}/{total}")

        def on_epoch(trial: int, epoch: int) -> None:
            bar.advance(0, description=f"trial {trial}/{config.n_iter}: epoch {epoch}")

        trials, model = run_search(
            (train.x, train.y), (validation.x, validation.y), len(dataset.class_names), n_iter=config.n_iter,
            epochs=config.epochs, patience=config.patience, batch_size=config.batch_size, augment=config.augment,
            seed=config.seed, separable=config.separable, network_size=config.network_size,
            time_budget=config.time_budget, on_trial=on_trial, on_epoch=on_epoch,
            trial_fit=mobilenet_trial(kind=config.model, alpha=config.alpha, network_size=config.network_size,
                                      weights=config.weights, fine_tune=config.fine_tune) if mobilenet else None)
        bar.advance()
    board = leaderboard(trials)
    best = board[0]
    test_proba = predict_proba(model, splits["test"].x)
    validation_proba = predict_proba(model, validation.x)
    work_size = tuple(config.network_size or config.image_size)
    card = ImageModelCard(
        class_names=list(dataset.class_names),
        input={"name": INPUT_NAME, "output": OUTPUT_NAME, "height": dataset.height, "width": dataset.width,
               "channels": dataset.channels, "channel_order": dataset.channel_order, "pixel_range": [0, 255],
               "dtype": "float32", "layout": "NHWC",
               "note": "raw pixel values 0..255; rescaling (and resizing) are layers of the model"},
        network=_network_facts(config, work_size, int(model.count_params())),
        winner={"trial": best["trial"], "params": best["params"], "val_accuracy": best["val_accuracy"],
                "val_loss": best["val_loss"], "selected_by": "best validation accuracy (then loss)"},
        leaderboard=board,
        test_metrics=image_metrics(splits["test"].y, test_proba, dataset.class_names),
        validation_metrics=image_metrics(validation.y, validation_proba, dataset.class_names),
        pixel_statistics=pixel_statistics(train.x, dataset.channel_order),
        data=_data_facts(dataset),
        splits={"stratified": True, "seed": config.seed, "test_size": config.test_size,
                "validation_size": config.validation_size,
                **{name: int(len(split.y)) for name, split in splits.items()}},
        config=config.to_dict(),
        library_versions=library_versions(keras=True),
        edgekit_version=edgekit.__version__,
        misclassified=misclassified(splits["test"].y, test_proba, splits["test"].ids, dataset.class_names),
    )
    return ImageTrainResult(card, model, splits, config)


def _network_facts(config: ImageTrainConfig, work_size: tuple[int, int], weights: int) -> dict[str, Any]:
    if config.model == "cnn":
        return {"architecture": "cnn", "stages": stages_for(*work_size), "network_size": list(work_size),
                "separable": config.separable, "weights": weights}
    return {"architecture": config.model, "alpha": config.alpha, "network_size": list(work_size), "weights": weights,
            "pretrained": weights_facts(config.weights), "fine_tuned": config.fine_tune,
            "backbone": "keras.applications, include_top=False, new head: global pooling, dropout, softmax"}


def _data_facts(dataset: ImageDataset) -> dict[str, Any]:
    return {"name": dataset.name, "source": dataset.source, "sha256": dataset.fingerprint,
            "images": int(len(dataset.labels)), "classes": dataset.counts(), "resized": dataset.resized,
            "skipped": [dict(s) for s in dataset.skipped]}
