"""An image classifier behind the server: uint8 pixels in, class probabilities and labels out.

:class:`ImagePredictor` serves an image export (``edgekit.runtime.ImageModel``, the
on-device code path) or an image bundle's Keras source model. Requests are decoded to
uint8 ``[n, h, w, c]`` pixels first (:mod:`edgekit.serve.image_v2`: raw UINT8 tensors, or
encoded PNG/JPEG/BMP images through the runtime's own decoder, which converts and resizes
them exactly as training and ``edgekit predict`` do), so the model thread only ever sees
pixels of the model's size. Called from the server's one model thread only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping

import numpy as np

from edgekit.runtime.errors import SchemaError
from edgekit.runtime.io import file_sha256
from edgekit.serve.predictors import PLATFORMS, Outputs, check_name

PIXELS = "pixels"  # the one payload array the batcher merges and the model thread reads
BYTES_INPUT = "image_bytes"  # the V2 input name advertised for encoded images


class ImagePredictor:
    """What the server needs from an image classifier (see the module docstring)."""

    output_names = ["label", "probabilities"]
    integer_labels = False  # class names are text (folder names)
    task = "classification"

    def __init__(self, probabilities: Callable[[np.ndarray], np.ndarray], *, name: str, platform: str, model_id: str,
                 height: int, width: int, channels: int, channel_order: str, class_names: tuple[Any, ...],
                 input_name: str = "image", close: Callable[[], None] | None = None):
        self._probabilities = probabilities
        self.name = check_name(name)
        self.platform = platform
        self.model_id = model_id
        self.height, self.width, self.channels = int(height), int(width), int(channels)
        self.channel_order = channel_order
        self.labels = tuple(str(c) for c in class_names)
        self.input_name = input_name
        self._label_values = np.asarray(self.labels, dtype=object)
        self._close = close

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.height, self.width, self.channels

    # -- requests ----------------------------------------------------------------------------
    def rows_and_key(self, payload: Mapping[str, np.ndarray]) -> tuple[int, Hashable]:
        return len(payload[PIXELS]), ()  # every request already has the model's image shape

    def predict(self, payload: Mapping[str, np.ndarray]) -> Outputs:
        pixels = payload[PIXELS]
        probabilities = np.asarray(self._probabilities(pixels), dtype=np.float32).reshape(len(pixels), -1)
        if probabilities.shape[1] != len(self.labels):
            raise SchemaError(f"the model returned {probabilities.shape[1]} class scores for {len(self.labels)} labels")
        # The stable sort on negated scores breaks ties towards the lower class index, as ImageModel.predict does.
        best = np.argsort(-probabilities, axis=1, kind="stable")[:, 0]
        return Outputs(label=self._label_values[best], probabilities=probabilities)

    # -- life cycle --------------------------------------------------------------------------
    def warm_up(self) -> Outputs:
        return self.predict({PIXELS: np.zeros((1, *self.image_shape), np.uint8)})

    def describe(self) -> str:
        return (f"{self.name} ({self.platform} image classifier, {self.height}x{self.width}x{self.channels} "
                f"{self.channel_order} uint8 pixels, {len(self.labels)} classes)")

    def close(self) -> None:
        if self._close is not None:
            self._close()


def from_image_model(model, *, name: str) -> ImagePredictor:
    """An image export (``edgekit.runtime.ImageModel``), run through the runtime."""
    adapter = model.adapter
    classes = model.output(adapter.output).shape[-1]
    names = model.class_names
    if isinstance(classes, int) and len(names) != classes:  # no labels in the manifest: class indices, as predict names them
        names = tuple(str(i) for i in range(classes))
    return ImagePredictor(model.probabilities, name=name, platform=PLATFORMS.get(model.format, model.format),
                          model_id=model.sha256, height=adapter.height, width=adapter.width, channels=adapter.channels,
                          channel_order=adapter.channel_order, class_names=names, input_name=adapter.input,
                          close=model.close)


def from_image_bundle(path: str | os.PathLike, *, name: str | None = None) -> ImagePredictor:
    """An image bundle's Keras source model (``model.keras``, loaded with safe_mode=True),
    called through one traced function (Keras' ``predict`` costs milliseconds per call)."""
    from edgekit.train.image_bundle import load_image_bundle

    bundle = load_image_bundle(path)
    spec = bundle.card.input
    model = bundle.load_model()
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def call(x):
        return model(x, training=False)

    def probabilities(pixels: np.ndarray) -> np.ndarray:
        return call(tf.constant(pixels.astype(np.float32))).numpy()

    return ImagePredictor(probabilities, name=name or Path(path).name, platform=PLATFORMS["keras"],
                          model_id=file_sha256(bundle.model_file), height=spec["height"], width=spec["width"],
                          channels=spec["channels"], channel_order=spec["channel_order"],
                          class_names=tuple(bundle.card.class_names), input_name=spec.get("name", "image"))
