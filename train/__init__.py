"""edgekit.train: prepare data, search and cross-validate candidates, pick and document a winner."""

from edgekit.train.api import TrainConfig, TrainResult, train
from edgekit.train.bundle import Bundle, load_bundle, save_bundle
from edgekit.train.card import ModelCard
from edgekit.train.candidates import CANDIDATES, DEFAULT_MODELS
from edgekit.train.datasets import BUNDLED, DEFAULT_TARGETS, Dataset, load_dataset
from edgekit.train.image_api import ImageTrainConfig, ImageTrainResult, train_images
from edgekit.train.metrics import METRICS, evaluate, get_metric
from edgekit.train.source import SourceModel

__all__ = [
    "train",
    "TrainConfig",
    "TrainResult",
    "Bundle",
    "load_bundle",
    "save_bundle",
    "ModelCard",
    "CANDIDATES",
    "DEFAULT_MODELS",
    "BUNDLED",
    "DEFAULT_TARGETS",
    "Dataset",
    "load_dataset",
    "METRICS",
    "evaluate",
    "get_metric",
    "SourceModel",
    "train_images",
    "ImageTrainConfig",
    "ImageTrainResult",
]
