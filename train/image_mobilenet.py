"""MobileNetV2 / MobileNetV3-Small candidates for image training, and transfer learning from
local backbone weights.

The backbone comes from ``keras.applications`` with ``weights=None`` and ``include_top=False``:
nothing is ever downloaded. ``weights`` names a local Keras ``.weights.h5`` file of a backbone
of the same kind and alpha (saved with ``backbone.save_weights``; conv weights do not depend
on the input size, so a 96x96 backbone's file fits a 32x32 one). With it the backbone is
frozen and only the new head trains; ``fine_tune`` then unfreezes the backbone (batch
normalisation stays frozen: its moving statistics came with the weights and a small data set
would wreck them) and trains a few more epochs at a tenth of the learning rate.

Like the CNN, the model takes raw pixels 0..255 as float32 ``image``: grayscale is repeated to
3 channels with a Concatenate layer, Resizing brings the image to the network size (MobileNet
needs at least 32x32), and the scaling to [-1, 1] is a Rescaling layer (V2) or V3's own
``include_preprocessing``. No Lambda layer, so the model loads with ``safe_mode=True``.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgekit.runtime.errors import ConfigError
from edgekit.train.image_cnn import INPUT_NAME, OUTPUT_NAME, CnnParams, FitResult, fit

MOBILENETS = ("mobilenet_v2", "mobilenet_v3_small")
MODELS = ("cnn",) + MOBILENETS
MIN_SIDE = 32  # keras.applications refuses smaller inputs
BACKBONE = "backbone"
FINE_TUNE_LR_FACTOR = 0.1
FINE_TUNE_EPOCHS = 5  # at most; early stopping applies as for the head
BATCH_NORM_MOMENTUM = 0.9


def default_network_size(height: int, width: int) -> tuple[int, int]:
    """The image's own size, raised to MobileNet's minimum side."""
    return max(MIN_SIDE, height), max(MIN_SIDE, width)


def check_network_size(size: tuple[int, int]) -> None:
    if min(size) < MIN_SIDE:
        raise ConfigError(f"MobileNet needs a network size of at least {MIN_SIDE}x{MIN_SIDE}, not {size[0]}x{size[1]}",
                          hint="pass --network-size 32x32 or larger (the image is resized inside the model)")


def build_backbone(kind: str, alpha: float, size: tuple[int, int]):
    """The headless keras.applications backbone (random weights), named ``backbone``."""
    from edgekit.train.tf_env import import_keras

    keras = import_keras()
    shape = (int(size[0]), int(size[1]), 3)
    if kind == "mobilenet_v2":
        net = keras.applications.MobileNetV2(input_shape=shape, alpha=alpha, include_top=False, weights=None)
    elif kind == "mobilenet_v3_small":
        net = keras.applications.MobileNetV3Small(input_shape=shape, alpha=alpha, include_top=False, weights=None,
                                                  include_preprocessing=True)
    else:
        raise ConfigError(f"unknown MobileNet {kind!r}", hint=f"choose one of {', '.join(MOBILENETS)}")
    # keras.applications uses batch-norm momentum 0.999 (V2 and V3): on a small data set
    # a few hundred steps leave the moving statistics at their start, and validation and
    # export see a network that answers uniformly (digits, 32x32, 6 epochs: test accuracy 0.10, 0.62 with 0.9).
    # 0.9 as in the CNN; it is in each layer's config, so the saved model keeps it.
    for layer in net.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BATCH_NORM_MOMENTUM
    # A functional model is renamed by rebuilding it: its name is the layer name in ours.
    return keras.Model(net.inputs[0], net.outputs[0], name=BACKBONE)


def load_backbone_weights(backbone, path: str | Path, kind: str, alpha: float) -> None:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"weights file {path} does not exist")
    if not path.name.endswith(".weights.h5"):
        raise ConfigError(f"{path.name}: weights must be a Keras .weights.h5 file (backbone.save_weights)")
    try:
        backbone.load_weights(str(path))
    except Exception as exc:  # Keras raises ValueError/KeyError on a shape or layer mismatch
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path.name} does not fit a {kind} alpha {alpha:g} backbone: {first[:300]}",
                          hint="save the weights from a backbone of the same kind and alpha") from None


def build_mobilenet(input_shape: tuple[int, int, int], n_classes: int, params: CnnParams, *, kind: str,
                    alpha: float, network_size: tuple[int, int], weights: str | Path | None = None):
    from edgekit.train.tf_env import import_keras

    keras = import_keras()
    layers = keras.layers
    check_network_size(network_size)
    inputs = keras.Input(input_shape, name=INPUT_NAME, dtype="float32")
    h = inputs
    if input_shape[-1] == 1:
        h = layers.Concatenate(name="gray_to_rgb")([h, h, h])
    if tuple(network_size) != tuple(input_shape[:2]):
        h = layers.Resizing(*network_size, interpolation="bilinear", name="resize")(h)
    if kind == "mobilenet_v2":  # V2 expects [-1, 1] (its preprocess_input); V3 rescales 0..255 itself
        h = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(h)
    backbone = build_backbone(kind, alpha, network_size)
    if weights is not None:
        load_backbone_weights(backbone, weights, kind, alpha)
        backbone.trainable = False  # also puts its batch normalisation in inference mode
    h = backbone(h)
    h = layers.GlobalAveragePooling2D(name="pool")(h)
    if params.dropout:
        h = layers.Dropout(params.dropout, name="head_dropout")(h)
    outputs = layers.Dense(n_classes, activation="softmax", name=OUTPUT_NAME)(h)
    model = keras.Model(inputs, outputs, name=f"edgekit_{kind}")
    _compile(model, params.learning_rate)
    return model


def _compile(model, learning_rate: float) -> None:
    from edgekit.train.tf_env import import_keras

    keras = import_keras()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])


def unfreeze_for_fine_tuning(model, learning_rate: float) -> None:
    from edgekit.train.tf_env import import_keras

    keras = import_keras()
    backbone = model.get_layer(BACKBONE)
    backbone.trainable = True
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    _compile(model, learning_rate * FINE_TUNE_LR_FACTOR)  # trainable changes take effect on compile


def mobilenet_trial(*, kind: str, alpha: float, network_size: tuple[int, int], weights: str | Path | None,
                    fine_tune: bool) -> Callable[..., FitResult]:
    """A trial function for ``image_search.run_search``: build, train the head (or all), fine-tune."""
    if fine_tune and weights is None:
        raise ConfigError("--fine-tune needs --weights (without them the whole network trains from scratch)")

    def trial(shape, n_classes, params: CnnParams, train, validation, **fit_args) -> FitResult:
        model = build_mobilenet(shape, n_classes, params, kind=kind, alpha=alpha, network_size=network_size,
                                weights=weights)
        first = fit(model, train, validation, **fit_args)
        if not fine_tune:
            return first
        head_only = model.get_weights()
        unfreeze_for_fine_tuning(model, params.learning_rate)
        more = fit(model, train, validation, **{**fit_args, "epochs": min(FINE_TUNE_EPOCHS, fit_args["epochs"])})
        if more.val_loss > first.val_loss:  # fine-tuning made it worse: keep the head-only model
            model.set_weights(head_only)
            more = replace(more, val_accuracy=first.val_accuracy, val_loss=first.val_loss)
        return replace(more, epochs=first.epochs + more.epochs, seconds=first.seconds + more.seconds,
                       best_epoch=first.epochs + more.best_epoch)

    return trial


def weights_facts(path: str | Path | None) -> dict[str, Any] | None:
    """The card's record of the weights file: its name and sha256 (the path is the user's)."""
    if path is None:
        return None
    data = Path(path).read_bytes()
    return {"file": Path(path).name, "sha256": hashlib.sha256(data).hexdigest()}


def backbone_arrays(model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_layer(BACKBONE).get_weights()]
