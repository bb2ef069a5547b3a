"""The image adapter on the tensor layer: pixels or photos in, class labels out.

``load()`` returns an :class:`ImageModel` for a file whose manifest's ``adapter`` is of
kind ``"image"`` (what ``edgekit convert`` writes for an image bundle)::

    >>> model = load("model.tflite")
    >>> model.predict(frames)            # uint8 [n, h, w, c] or [h, w, c]
    >>> model.predict(["photo.jpg"])     # decoded and resized with Pillow (the images extra)

It is a :class:`TensorModel`, so ``run``, ``inputs`` and everything built on the tensor
layer (bench, serve, info) keep working. Arrays must already have the model's size and
channels (resizing needs Pillow, which the bare runtime does not import); files are
converted and resized by :mod:`edgekit.runtime.image_files`, the decoder training used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from edgekit.runtime.errors import ModelLoadError, SchemaError
from edgekit.runtime.image_files import CHANNEL_ORDERS, read_image
from edgekit.runtime.tensor_model import TensorModel

KIND = "image"
DEFAULT_TOP_K = 3
DYNAMIC_BATCH = 256  # images per backend call when the batch dimension is dynamic


@dataclass(frozen=True)
class ImageAdapter:
    """What the manifest says the model's tensors mean for images."""

    height: int
    width: int
    channels: int
    channel_order: str
    pixel_range: tuple[int, int]
    input: str
    output: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "height": self.height, "width": self.width, "channels": self.channels,
                "pixel_range": list(self.pixel_range), "channel_order": self.channel_order,
                "input": self.input, "output": self.output}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ImageAdapter":
        try:
            adapter = cls(int(data["height"]), int(data["width"]), int(data["channels"]), str(data["channel_order"]),
                          (int(data["pixel_range"][0]), int(data["pixel_range"][1])), str(data["input"]),
                          str(data["output"]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelLoadError(f"malformed image adapter in the manifest: {exc!r}") from exc
        if CHANNEL_ORDERS.get(adapter.channels) != adapter.channel_order or adapter.height < 1 or adapter.width < 1:
            raise ModelLoadError(f"malformed image adapter in the manifest: {dict(data)}")
        if adapter.pixel_range != (0, 255):
            raise ModelLoadError(f"image adapter pixel range {list(adapter.pixel_range)} is not supported (only [0, 255])")
        return adapter


@dataclass(frozen=True)
class ImagePrediction:
    """Per image: the best label, the top-k labels and every class probability."""

    labels: list[Any]
    indices: np.ndarray  # [n] class index of the best label
    probabilities: np.ndarray  # [n, classes] float32
    top_k: list[list[Any]]  # [n][k] labels, best first
    top_k_probabilities: np.ndarray  # [n, k]
    class_names: tuple[Any, ...]
    request_ids: tuple[str, ...] | None = None  # set when the prediction was logged

    def __len__(self) -> int:
        return len(self.labels)

    def to_records(self) -> list[dict[str, Any]]:
        return [{"label": label, "probability": float(p[0]),
                 "top_k": [{"label": name, "probability": float(v)} for name, v in zip(names, p)]}
                for label, names, p in zip(self.labels, self.top_k, self.top_k_probabilities)]


class ImageModel(TensorModel):
    """A model file that classifies images (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.adapter = ImageAdapter.from_dict(self.manifest.adapter)
        try:
            self._input = self.input(self.adapter.input)
            self.output(self.adapter.output)
        except SchemaError as exc:
            raise ModelLoadError(f"{self.path.name}: its image adapter names a tensor it lacks: {exc.message}") from exc
        fixed = tuple(d for d in self._input.shape[1:])
        if self._input.rank != 4 or fixed != (self.adapter.height, self.adapter.width, self.adapter.channels):
            raise ModelLoadError(f"{self.path.name}: input {self._input.name!r} {self._input.shape_text()} does not "
                                 f"match its image adapter ({self.adapter.height}x{self.adapter.width}x{self.adapter.channels})")
        labels = self.manifest.labels
        self.class_names: tuple[Any, ...] = tuple(labels) if labels is not None else ()
        batch = self._input.shape[0]
        self._batch = batch if isinstance(batch, int) and batch > 0 else DYNAMIC_BATCH
        # Raw uint8 pixels go straight in when the input takes them as they are (a uint8
        # input with scale 1 and zero point 0, or no quantisation); otherwise as float32,
        # which the tensor layer quantises with the input's own parameters.
        quant = self._input.quantization
        identity = quant is None or (quant.scale == (1.0,) and quant.zero_point == (0,))
        self._feed_dtype = np.uint8 if self._input.dtype == "uint8" and identity else np.float32
        self.logger: Any = None

    def attach_log(self, path: str | os.PathLike) -> None:
        """Log every prediction's image statistics (never pixels) to the SQLite log ``path``."""
        from edgekit.runtime.image_log import ImagePredictionLog

        classes = self.output(self.adapter.output).shape[-1]
        names = self._names(classes) if isinstance(classes, int) else self.class_names
        self.logger = ImagePredictionLog(path, model_id=self.sha256, channel_order=self.adapter.channel_order,
                                         class_names=names)

    @property
    def image_size(self) -> tuple[int, int]:
        return self.adapter.height, self.adapter.width

    @property
    def channels(self) -> int:
        return self.adapter.channels

    def read(self, path: str | os.PathLike) -> np.ndarray:
        """One image file as the model's uint8 [h, w, c] pixels (needs Pillow)."""
        return read_image(path, self.image_size, self.channels)

    def pixels(self, images: Any) -> np.ndarray:
        """uint8 [n, h, w, c] from arrays ([n,h,w,c], [h,w,c], or [h,w] for grayscale) or file paths."""
        if isinstance(images, (str, os.PathLike)):
            return self.read(images)[None]
        if isinstance(images, Sequence) and images and all(isinstance(i, (str, os.PathLike)) for i in images):
            return np.stack([self.read(p) for p in images])
        return self._checked_array(images)

    def predict(self, images: Any, *, top_k: int = DEFAULT_TOP_K, request_ids: Any = None, **_: Any) -> ImagePrediction:
        """Labels, top-k labels and probabilities for arrays or image files (logged with
        ``request_ids``, or new ones, when a log is attached)."""
        pixels = self.pixels(images)
        probabilities = self.probabilities(pixels)
        k = max(1, min(int(top_k), probabilities.shape[1]))
        # A stable sort on the negated scores keeps the lower class index first on ties.
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        names = self._names(probabilities.shape[1])
        top = [[names[i] for i in row] for row in order]
        labels = [row[0] for row in top]
        ids = None
        if self.logger is not None and len(pixels):
            ids = tuple(self.logger.log(pixels, labels, probabilities, request_ids))
        return ImagePrediction(labels, order[:, 0], probabilities, top,
                               np.take_along_axis(probabilities, order, axis=1), names, ids)

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """Class scores (dequantised, float32 [n, classes]) for checked uint8 [n, h, w, c] pixels."""
        feed = pixels.astype(self._feed_dtype, copy=False)
        parts = []
        for start in range(0, len(feed), self._batch):
            chunk = feed[start : start + self._batch]
            rows = len(chunk)
            if rows < self._batch and self._batch != DYNAMIC_BATCH:  # a fixed batch: pad, then drop the padding
                chunk = np.concatenate([chunk, np.zeros((self._batch - rows,) + chunk.shape[1:], chunk.dtype)])
            out = self.run({self._input.name: chunk}, dequantize=True)[self.adapter.output]
            parts.append(np.asarray(out, dtype=np.float32).reshape(len(chunk), -1)[:rows])
        if not parts:
            return np.zeros((0, max(len(self.class_names), 1)), np.float32)
        return np.concatenate(parts)

    def _names(self, classes: int) -> tuple[Any, ...]:
        if len(self.class_names) == classes:
            return self.class_names
        return tuple(str(i) for i in range(classes))

    def _checked_array(self, images: Any) -> np.ndarray:
        array = np.asarray(images)
        height, width, channels = self.adapter.height, self.adapter.width, self.adapter.channels
        if array.ndim == 2 and channels == 1:
            array = array[None, ..., None]
        elif array.ndim == 3:
            array = array[None]
        if array.ndim != 4:
            raise SchemaError(f"images must be [n, h, w, c] or [h, w, c] arrays; got shape {list(array.shape)}")
        if array.shape[1:3] != (height, width):
            raise SchemaError(f"images are {array.shape[1]}x{array.shape[2]} but {self.path.name} takes {height}x{width}",
                              hint="resize them first, or pass the image files (resized with Pillow)")
        if array.shape[3] != channels:
            raise SchemaError(f"images have {array.shape[3]} channel(s) but {self.path.name} takes {channels} "
                              f"({self.adapter.channel_order})", hint="convert them first, or pass the image files")
        return _as_pixels(array)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "adapter": self.adapter.to_dict(), "labels": list(self.class_names)}

    def close(self) -> None:
        try:
            if self.logger is not None:
                self.logger.close()
        finally:
            super().close()


def _as_pixels(array: np.ndarray) -> np.ndarray:
    """uint8 pixels; other dtypes only when every value is already a whole number in 0..255."""
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "iuf" or array.size == 0:
        raise SchemaError(f"images must hold uint8 pixels 0..255; got dtype {array.dtype}")
    finite = np.isfinite(array) if array.dtype.kind == "f" else np.ones(array.shape, bool)
    if not finite.all() or array.min() < 0 or array.max() > 255 or not np.array_equal(array, np.round(array)):
        raise SchemaError(f"images must hold uint8 pixels 0..255; got {array.dtype} values from {array.min()} to {array.max()}",
                          hint="scale float images in 0..1 by 255 and round them")
    return array.astype(np.uint8)


def is_image_manifest(manifest: Any) -> bool:
    adapter = getattr(manifest, "adapter", None) or {}
    return isinstance(adapter, Mapping) and adapter.get("kind") == KIND
