"""``convert_image_bundle``: an image bundle's CNN through the foreign-model converter.

The bundle's Keras file is converted like any ``.keras`` model (``convert.foreign``): the
training images are the calibration set, the test images and their labels the gate's
eval set (top-1 agreement with the Keras model, and accuracy), so an image bundle gets
TFLite fp32/fp16/dynamic/int8 and ONNX fp32/dynamic/int8 with the same gate and report.
Full-int8 TFLite defaults to uint8 input and output, so a camera frame goes in as it is.
Every export's manifest carries the class names as ``labels`` and the image facts as its
``adapter``, which makes ``edgekit.runtime.load`` return an ``ImageModel``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgekit.convert.foreign.api import convert_foreign
from edgekit.convert.foreign.options import ForeignOptions
from edgekit.convert.foreign.report import ForeignReport
from edgekit.runtime.errors import ConfigError
from edgekit.runtime.image_model import ImageAdapter
from edgekit.train.image_bundle import ImageBundle, load_image_bundle

EXPORTS_DIR = "exports"
IMAGE_INT8_IO = "uint8"


def image_adapter(bundle: ImageBundle) -> ImageAdapter:
    spec = bundle.card.input
    return ImageAdapter(height=int(spec["height"]), width=int(spec["width"]), channels=int(spec["channels"]),
                        channel_order=str(spec["channel_order"]), pixel_range=(0, 255), input=str(spec["name"]),
                        output=str(spec["output"]))


def convert_image_bundle(path: str | os.PathLike, out: str | os.PathLike | None = None,
                         options: ForeignOptions | None = None, *, force: bool = False,
                         show_progress: bool | None = None) -> ForeignReport:
    """Exports of the image bundle at ``path`` into ``out`` (default ``BUNDLE/exports``)."""
    options = options or ForeignOptions(int8_io=IMAGE_INT8_IO)
    given = [name for name in ("calibration", "eval", "eval_labels") if getattr(options, name) is not None]
    if given:
        raise ConfigError(f"{', '.join('--' + g.replace('_', '-') for g in given)}: not for an image bundle",
                          hint="it calibrates on its training images and gates on its test images")
    bundle = load_image_bundle(path)
    adapter = image_adapter(bundle)
    out = Path(out) if out is not None else bundle.path / EXPORTS_DIR
    if out.exists() and not force:  # before the splits are read and TensorFlow loads
        raise ConfigError(f"{out} already exists", hint="choose another --out, or --force to replace it")
    train, test = bundle.split("train"), bundle.split("test")
    with tempfile.TemporaryDirectory(prefix="edgekit-images-") as scratch:
        folder = Path(scratch)
        # The Keras model takes float32 pixel values 0..255: the uint8 images as they are.
        np.savez(folder / "training-images.npz", **{adapter.input: train.x.astype(np.float32)})
        np.savez(folder / "test-images.npz", **{adapter.input: test.x.astype(np.float32)})
        np.save(folder / "test-labels.npy", test.y.astype(np.int64))
        options = replace(options, calibration=folder / "training-images.npz", eval=folder / "test-images.npz",
                          eval_labels=folder / "test-labels.npy")
        return convert_foreign(bundle.model_file, out, options, force=force, show_progress=show_progress,
                               class_names=bundle.card.class_names, adapter=adapter.to_dict())
