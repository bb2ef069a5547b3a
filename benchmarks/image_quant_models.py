"""The models ``image_quant`` measures, exported as a user gets them from ``edgekit convert``.

- MobileNetV2 / MobileNetV3-Small from ``keras.applications`` with ``weights=None``: no
  download happens, the weights are random. Latency does not depend on the weights'
  values (the same kernels run the same number of multiply-adds), so the timings hold; the
  outputs, the gate's agreement and any accuracy are meaningless and labelled so. The
  network takes float pixels 0..255 like edgekit's own image CNN (MobileNetV2's [-1, 1]
  scaling is a Rescaling layer inside; V3 has its own), so full int8 gets uint8 input.
  Full int8 is calibrated on synthetic images: smooth random colour fields (random 6x6
  colour grids bilinearly upsampled, plus noise), not photos.
- The digits CNN of an image bundle: its existing ``exports/tflite-fp32`` and
  ``tflite-int8`` when present, else converted now (calibrated on its training images).

Every export goes through ``convert.foreign.convert_foreign`` (per-channel weights,
``--int8-io uint8``), so the files are exactly what ``edgekit convert`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.runtime.errors import ConfigError

INPUT_NAME = "image"
MOBILENETS = ("mobilenet_v2", "mobilenet_v3_small")
SYNTHETIC = "synthetic smooth random colour images (random weights: latency only)"


@dataclass(frozen=True)
class MobileNetSpec:
    kind: str = "mobilenet_v2"
    alpha: float = 0.35
    size: int = 96
    classes: int = 1000  # the published ImageNet configuration

    def __post_init__(self) -> None:
        if self.kind not in MOBILENETS:
            raise ConfigError(f"unknown MobileNet {self.kind!r}", hint=f"choose one of {', '.join(MOBILENETS)}")
        if self.size < 32:
            raise ConfigError(f"MobileNet input size must be at least 32, not {self.size}")

    @property
    def name(self) -> str:
        return f"{self.kind} a{self.alpha:g} {self.size}x{self.size}"


@dataclass
class ModelFiles:
    """One measured model: its fp32 and int8 TFLite files and what it is."""

    name: str
    fp32: Path
    int8: Path
    weights: int
    images: np.ndarray  # uint8 [n, h, w, c]: the pixels fed to both files
    images_origin: str
    weights_origin: str
    labels: np.ndarray | None = None  # true classes of ``images`` (real data only)
    gate: dict[str, Any] | None = None


def synthetic_images(n: int, size: int, seed: int) -> np.ndarray:
    """Smooth random colour fields as uint8 [n, size, size, 3]."""
    from edgekit.train.tf_env import import_tensorflow

    tf = import_tensorflow()
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, 6, 6, 3)).astype(np.float32)
    smooth = np.asarray(tf.image.resize(coarse, (size, size), method="bilinear"))
    noisy = smooth + rng.normal(0, 8, smooth.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def build_mobilenet(spec: MobileNetSpec):
    """A Keras model taking float pixels 0..255 named ``image`` (random weights)."""
    from edgekit.train.tf_env import import_keras

    keras = import_keras()
    shape = (spec.size, spec.size, 3)
    inputs = keras.Input(shape, name=INPUT_NAME, dtype="float32")
    if spec.kind == "mobilenet_v2":
        net = keras.applications.MobileNetV2(input_shape=shape, alpha=spec.alpha, weights=None, classes=spec.classes)
        # MobileNetV2 expects [-1, 1] (its preprocess_input); scaling inside keeps uint8 input possible.
        h = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    else:
        net = keras.applications.MobileNetV3Small(input_shape=shape, alpha=spec.alpha, weights=None,
                                                  classes=spec.classes, include_preprocessing=True)
        h = inputs  # V3 rescales 0..255 itself
    return keras.Model(inputs, net(h), name=spec.kind)


def _convert(model_file: Path, out: Path, calibration: np.ndarray, evaluation: np.ndarray,
             labels: np.ndarray | None = None, **kwargs) -> tuple[Path, Path, dict[str, Any]]:
    """fp32 and int8 (uint8 input) TFLite of ``model_file`` through edgekit's converter."""
    from edgekit.convert.foreign.api import convert_foreign
    from edgekit.convert.foreign.options import ForeignOptions

    scratch = out / "arrays"
    scratch.mkdir(parents=True, exist_ok=True)
    np.savez(scratch / "calibration.npz", **{INPUT_NAME: calibration.astype(np.float32)})
    np.savez(scratch / "eval.npz", **{INPUT_NAME: evaluation.astype(np.float32)})
    extra = {}
    if labels is not None:
        np.save(scratch / "labels.npy", labels.astype(np.int64))
        extra["eval_labels"] = scratch / "labels.npy"
    options = ForeignOptions(formats=("tflite",), quantizations=("fp32", "int8"), int8_io="uint8",
                             calibration=scratch / "calibration.npz", eval=scratch / "eval.npz", **extra)
    report = convert_foreign(model_file, out / "exports", options, show_progress=False, **kwargs)
    paths = {}
    for result in report.results:
        if result.path is None:
            raise ConfigError(f"{model_file.name}: the {result.name} export failed: {result.reason}")
        paths[result.quantization] = out / "exports" / result.path  # a gate-rejected file is still timed
    gate = {r.quantization: {"status": r.status, **(r.parity or {})} for r in report.results}
    return paths["fp32"], paths["int8"], gate


def mobilenet_files(spec: MobileNetSpec, work: Path, *, calibration_images: int, feed_images: int,
                    seed: int) -> ModelFiles:
    model = build_mobilenet(spec)
    folder = work / spec.kind
    folder.mkdir(parents=True, exist_ok=True)
    model_file = folder / "model.keras"
    model.save(model_file)
    calibration = synthetic_images(calibration_images, spec.size, seed)
    feeds = synthetic_images(feed_images, spec.size, seed + 1)
    fp32, int8, gate = _convert(model_file, folder, calibration, feeds)
    return ModelFiles(spec.name, fp32, int8, int(model.count_params()), feeds, SYNTHETIC,
                      "random (weights=None)", gate=gate)


def digits_files(bundle: Path | None, work: Path, *, feed_images: int, seed: int) -> ModelFiles:
    """The bundle's digits CNN (a quick one is trained when ``bundle`` is None)."""
    from edgekit.train.image_bundle import load_image_bundle

    if bundle is None:
        from edgekit.train.image_api import ImageTrainConfig, train_images

        # A quick model is enough for latency; --bundle gives the real default-trained one.
        result = train_images("digits-images", ImageTrainConfig(n_iter=1, epochs=15, seed=seed), show_progress=False)
        bundle = result.save(work / "digits-bundle")
    loaded = load_image_bundle(bundle)
    test = loaded.split("test")
    images, labels = test.x[:feed_images], test.y[:feed_images]
    exports = Path(bundle) / "exports"
    fp32, int8 = exports / "tflite-fp32" / "model.tflite", exports / "tflite-int8" / "model.tflite"
    gate = None
    if not (fp32.is_file() and int8.is_file()):
        from edgekit.convert.image_bundle import image_adapter

        train = loaded.split("train")
        fp32, int8, gate = _convert(loaded.model_file, work / "digits", train.x, test.x, test.y,
                                    class_names=loaded.card.class_names, adapter=image_adapter(loaded).to_dict())
    return ModelFiles(f"digits CNN {test.x.shape[1]}x{test.x.shape[2]}", fp32, int8,
                      int(loaded.card.network.get("weights", 0)), images, "test images of the bundle",
                      f"trained ({Path(bundle).name})", labels=labels, gate=gate)
