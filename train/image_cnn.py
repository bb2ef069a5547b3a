"""The small image CNN, its augmentation pipeline and one training run.

The network takes raw pixels: ``image`` float32 [n, h, w, c] holding 0..255 (a device
casts its uint8 frame; the full-int8 export takes the uint8 frame itself). Rescaling to
0..1, and Resizing when the network works at another resolution, are layers of the
model, so no export needs preprocessing outside it. Augmentation (flip, small
rotation/zoom/translation, brightness/contrast) runs in the tf.data input pipeline, never
in the exported graph: random ops do not convert, and a device must not augment.

Architecture (sized for the input): per stage, two conv/batch-norm/ReLU blocks then 2x2
max pooling, one stage per halving down to about 4 pixels (1 stage for 8x8, 3 for 32x32),
then two wider blocks, global average pooling, dropout and a softmax ``probabilities``
layer. ``separable`` swaps every block after the first for a depthwise-separable one
(MobileNet's building block: fewer weights and multiply-adds).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")
MAX_STAGES = 5


@dataclass(frozen=True)
class CnnParams:
    """One point of the search space."""

    width: int = 16  # filters of the first stage; each stage doubles it
    separable: bool = False
    learning_rate: float = 1e-3
    dropout: float = 0.2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Augmentation:
    """Random changes applied to training batches only (fractions as Keras defines them)."""

    flip: str = "none"
    rotation: float = 0.03  # of a full turn: about +-11 degrees
    zoom: float = 0.1
    translation: float = 0.1
    brightness: float = 0.1
    contrast: float = 0.1

    def __post_init__(self) -> None:
        from edgekit.runtime.errors import ConfigError

        if self.flip not in FLIPS:
            raise ConfigError(f"flip must be one of {FLIPS}, not {self.flip!r}")
        for name in ("rotation", "zoom", "translation", "brightness", "contrast"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ConfigError(f"augmentation {name} must be in [0, 1), not {value}")

    @property
    def enabled(self) -> bool:
        return self.flip != "none" or any((self.rotation, self.zoom, self.translation, self.brightness, self.contrast))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NO_AUGMENTATION = Augmentation(rotation=0, zoom=0, translation=0, brightness=0, contrast=0)
# Below this many pixels on the shorter side, rotating, zooming or shifting an image moves
# its content by fractions of a pixel and the interpolation blurs strokes away, and each
# pixel is too large a share of the image for brightness noise. Measured on 8x8 digits
# (one trial at the default point, seed 0, test accuracy): none 0.986, brightness and
# contrast only 0.981, rotation/zoom/translation only 0.975.
MIN_SIDE_FOR_AUGMENTATION = 16


def default_augmentation(height: int, width: int) -> Augmentation:
    """The augmentation used when none is given: none for tiny images, the default otherwise."""
    if min(height, width) < MIN_SIDE_FOR_AUGMENTATION:
        return NO_AUGMENTATION
    return Augmentation()


def stages_for(height: int, width: int) -> int:
    """Poolings that take the shorter side down to about 4 pixels (at least one)."""
    return max(1, min(MAX_STAGES, int(math.log2(max(min(height, width), 1))) - 2))


# The last blocks get width * 2**stages filters. With fewer than 64 there, a network is so
# small that int8 cannot make its TFLite file 4x smaller: each quantised tensor carries
# fixed costs (per-channel float32 scales and int64 zero points, its name, the graph
# structure; about 10 KB for this CNN), and the embedded manifest is ~2 KB. Measured on 8x8
# digits (one stage): width 16 has 17k weights and its int8 file was 37% of fp32 (the
# weights alone 25%); width 32 has 66k weights and 29%, at 0.989 test accuracy.
MIN_LAST_FILTERS = 64


def min_width(stages: int) -> int:
    """The narrowest first-stage width whose last blocks get MIN_LAST_FILTERS filters."""
    return -(-MIN_LAST_FILTERS // 2**stages)


def build_cnn(input_shape: tuple[int, int, int], n_classes: int, params: CnnParams,
              network_size: tuple[int, int] | None = None):
    from edgekit.train.tf_env import import_keras

    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input(input_shape, name=INPUT_NAME, dtype="float32")
    h = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    size = input_shape[:2]
    if network_size is not None and tuple(network_size) != tuple(size):
        h = layers.Resizing(*network_size, interpolation="bilinear", name="resize")(h)
        size = tuple(network_size)
    first = [True]

    def block(h, filters: int):
        separable = params.separable and not first[0]
        first[0] = False
        conv = layers.SeparableConv2D if separable else layers.Conv2D
        h = conv(filters, 3, padding="same", use_bias=False)(h)
        # momentum 0.9 (not 0.99): small data sets give few steps per epoch, and the moving
        # statistics used at validation and export time must settle within a short budget.
        h = layers.BatchNormalization(momentum=0.9)(h)
        return layers.ReLU()(h)

    filters = params.width
    for _ in range(stages_for(*size)):
        h = block(block(h, filters), filters)
        h = layers.MaxPooling2D()(h)
        filters *= 2
    h = block(block(h, filters), filters)
    h = layers.GlobalAveragePooling2D()(h)
    if params.dropout:
        h = layers.Dropout(params.dropout)(h)
    outputs = layers.Dense(n_classes, activation="softmax", name=OUTPUT_NAME)(h)
    model = keras.Model(inputs, outputs, name="edgekit_image_cnn")
    model.compile(optimizer=keras.optimizers.Adam(params.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _augmenter(augment: Augmentation, seed: int):
    from edgekit.train.tf_env import import_keras

    keras = import_keras()
    layers = keras.layers
    steps = []
    if augment.flip != "none":
        steps.append(layers.RandomFlip(augment.flip, seed=seed))
    # Pixels moved in from outside the image are black: digits and most objects sit on a
    # plain background, and "reflect" would invent strokes at the border.
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    if augment.rotation:
        steps.append(layers.RandomRotation(augment.rotation, seed=seed + 1, **fill))
    if augment.zoom:
        steps.append(layers.RandomZoom(augment.zoom, seed=seed + 2, **fill))
    if augment.translation:
        steps.append(layers.RandomTranslation(augment.translation, augment.translation, seed=seed + 3, **fill))
    if augment.brightness:
        steps.append(layers.RandomBrightness(augment.brightness, value_range=(0.0, 255.0), seed=seed + 4))
    if augment.contrast:
        steps.append(layers.RandomContrast(augment.contrast, value_range=(0.0, 255.0), seed=seed + 5))
    return keras.Sequential(steps, name="augmentation")


def pipeline(x: np.ndarray, y: np.ndarray, *, batch_size: int, augment: Augmentation | None, seed: int):
    """A tf.data pipeline of float32 pixel batches (shuffled and augmented when ``augment``)."""
    from edgekit.train.tf_env import import_tensorflow

    tf = import_tensorflow()
    data = tf.data.Dataset.from_tensor_slices((x, y))
    if augment is not None:
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size).map(lambda a, b: (tf.cast(a, tf.float32), b))
    if augment is not None and augment.enabled:
        augmenter = _augmenter(augment, seed)
        data = data.map(lambda a, b: (augmenter(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)


@dataclass
class FitResult:
    model: Any
    val_accuracy: float
    val_loss: float
    epochs: int
    best_epoch: int
    seconds: float


def fit(model, train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray], *, epochs: int,
        patience: int, batch_size: int, augment: Augmentation, seed: int,
        on_epoch: Callable[[int], None] | None = None) -> FitResult:
    """Train with early stopping on the validation loss; the best epoch's weights are kept.

    The loss, not the accuracy: on a validation split of a few hundred images the accuracy
    plateaus within a few epochs while the model is still improving."""
    from edgekit.train.tf_env import import_keras

    keras = import_keras()
    started = time.perf_counter()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    # Halving the step when the validation loss stalls refines the model before stopping.
    slower = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(1, patience // 2),
                                               min_lr=1e-5, verbose=0)
    callbacks = [stop, slower]
    if on_epoch is not None:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: on_epoch(epoch + 1)))
    history = model.fit(pipeline(*train, batch_size=batch_size, augment=augment, seed=seed),
                        validation_data=pipeline(*validation, batch_size=256, augment=None, seed=seed),
                        epochs=epochs, callbacks=callbacks, shuffle=False, verbose=0)  # the pipeline shuffles
    losses = history.history["val_loss"]
    best = int(np.argmin(losses))
    return FitResult(model, float(history.history["val_accuracy"][best]), float(losses[best]), len(losses), best + 1,
                     time.perf_counter() - started)


def predict_proba(model, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """Softmax scores through a traced call (never ``model.predict`` per batch)."""
    from edgekit.train.tf_env import import_tensorflow

    tf = import_tensorflow()
    fn = tf.function(lambda a: model(a, training=False), reduce_retracing=True)
    parts = [np.asarray(fn(tf.constant(x[i : i + batch], tf.float32))) for i in range(0, len(x), batch)]
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, model.output_shape[-1]))
