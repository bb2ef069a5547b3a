"""Image data in: a folder with one subfolder per class, an ``.npz`` of ``x``/``y``, or
the bundled ``digits-images`` (scikit-learn's 8x8 digits as uint8 pixels).

Every image ends as uint8 [height, width, channels] pixels of one size and channel count,
decoded, converted and resized by :mod:`edgekit.runtime.image_files` (the code a device
runs on a photo). Files that cannot be used (corrupt, not an image, outside a class
folder) are skipped and listed with the reason, never dropped silently; a class with too
few images is an error that names it.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.runtime.errors import ConfigError, DataError
from edgekit.runtime.image_files import CHANNEL_ORDERS, convert_array, probe, read_image

BUNDLED_IMAGES = ("digits-images",)
MIN_PER_CLASS = 5  # enough for one image of each class in train, validation and test
# Without --image-size a folder's images are resized to their most common size, shrunk so
# that the longer side is at most this (a small CNN on full-size photos would crawl).
DEFAULT_MAX_SIDE = 96


@dataclass(frozen=True)
class ImageDataset:
    name: str
    source: str
    fingerprint: str  # sha256 of the source (files by sorted relative path)
    images: np.ndarray  # uint8 [n, h, w, c]
    labels: np.ndarray  # int64 [n], indices into class_names
    class_names: tuple[str, ...]
    ids: np.ndarray  # str [n]: the file's path relative to the folder, or "<name>:<row>"
    skipped: tuple[dict[str, str], ...] = ()  # {"file", "reason"}
    resized: int = 0  # images whose size was changed

    @property
    def height(self) -> int:
        return int(self.images.shape[1])

    @property
    def width(self) -> int:
        return int(self.images.shape[2])

    @property
    def channels(self) -> int:
        return int(self.images.shape[3])

    @property
    def channel_order(self) -> str:
        return CHANNEL_ORDERS[self.channels]

    def counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts)}


def is_image_source(data: str | os.PathLike) -> bool:
    """True for the bundled image sets, a folder (tables are files) and an .npz archive."""
    text = str(data)
    if text in BUNDLED_IMAGES:
        return True
    path = Path(text)
    return path.is_dir() or path.suffix.lower() == ".npz"


def load_images(source: str | os.PathLike, *, image_size: tuple[int, int] | None = None, channels: int | None = None,
                min_per_class: int = MIN_PER_CLASS) -> ImageDataset:
    if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
        raise ConfigError(f"--image-size must be HEIGHTxWIDTH of positive sizes, not {image_size}")
    if channels is not None and channels not in CHANNEL_ORDERS:
        raise ConfigError(f"--channels must be 1 (grayscale) or 3 (RGB), not {channels}")
    text = str(source)
    if text == "digits-images":
        dataset = _digits(image_size, channels)
    else:
        path = Path(text)
        if not path.exists():
            raise DataError(f"{text}: no such image folder, .npz file or bundled image set",
                            hint=f"give a folder with one subfolder per class, an .npz with x and y, or {BUNDLED_IMAGES[0]}")
        dataset = _folder(path, image_size, channels) if path.is_dir() else _npz(path, image_size, channels)
    _check_classes(dataset, min_per_class)
    return dataset


def _digits(image_size, channels) -> ImageDataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 0..16 intensities -> 0..255 pixels (16 * 255 / 16 = 255 exactly).
    pixels = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    fingerprint = hashlib.sha256(pixels.tobytes() + digits.target.astype(np.int64).tobytes()).hexdigest()
    names = tuple(str(v) for v in digits.target_names)
    images, resized = _conform(pixels, image_size, channels)
    ids = np.asarray([f"digits:{i}" for i in range(len(pixels))])
    return ImageDataset("digits-images", "sklearn:load_digits", fingerprint, images, digits.target.astype(np.int64),
                        names, ids, (), resized)


def _npz(path: Path, image_size, channels) -> ImageDataset:
    if path.suffix.lower() != ".npz":
        raise DataError(f"{path.name}: not an image folder or .npz archive")
    data = path.read_bytes()
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, AttributeError) as exc:
        raise DataError(f"{path.name}: cannot read it as .npz ({exc})") from exc
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise DataError(f"{path.name}: no array {' or '.join(repr(m) for m in missing)}; it has {sorted(arrays)}",
                        hint="np.savez(path, x=uint8 images [n,h,w(,c)], y=labels [n])")
    x, y = arrays["x"], arrays["y"]
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in CHANNEL_ORDERS or 0 in x.shape:
        raise DataError(f"{path.name}: x must be [n, h, w] or [n, h, w, 1|3] images; got shape {list(x.shape)}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{path.name}: y must hold one label per image ({len(x)}); got shape {list(y.shape)}")
    pixels = _pixels(x, path.name)
    labels, names = _encode_labels(y, arrays.get("class_names"), path.name)
    images, resized = _conform(pixels, image_size, channels)
    ids = np.asarray([f"{path.name}:{i}" for i in range(len(x))])
    return ImageDataset(path.stem, str(path), hashlib.sha256(data).hexdigest(), images, labels, names, ids, (), resized)


def _pixels(x: np.ndarray, where: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind not in "iuf":
        raise DataError(f"{where}: x must hold pixel values 0..255, not {x.dtype}")
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 255 or not np.array_equal(x, np.round(x)):
        raise DataError(f"{where}: x must hold whole pixel values 0..255; got {x.dtype} from {x.min()} to {x.max()}",
                        hint="scale images in 0..1 by 255 and round them")
    return x.astype(np.uint8)


def _encode_labels(y: np.ndarray, class_names: np.ndarray | None, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    values = sorted(set(y.tolist()))
    if class_names is not None:
        names = tuple(str(n) for n in np.asarray(class_names).tolist())
        if y.dtype.kind not in "iu" or min(values) < 0 or max(values) >= len(names):
            raise DataError(f"{where}: with class_names, y must hold indices 0..{len(names) - 1}")
        return y.astype(np.int64), names
    index = {v: i for i, v in enumerate(values)}
    return np.asarray([index[v] for v in y.tolist()], dtype=np.int64), tuple(str(v) for v in values)


def _conform(pixels: np.ndarray, image_size, channels) -> tuple[np.ndarray, int]:
    """Arrays at the wanted size and channel count (through Pillow only when they change)."""
    size = tuple(image_size) if image_size else pixels.shape[1:3]
    channels = channels or pixels.shape[3]
    if pixels.shape[1:] == (*size, channels):
        return pixels, 0
    resized = len(pixels) if size != pixels.shape[1:3] else 0
    return np.stack([convert_array(p, size, channels) for p in pixels]), resized


def _folder(root: Path, image_size, channels) -> ImageDataset:
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    skipped = [{"file": p.name, "reason": "not inside a class folder"} for p in sorted(root.iterdir()) if p.is_file()]
    if not classes:
        raise DataError(f"{root}: no class folders", hint="put the images of each class in their own subfolder")
    found: list[tuple[Path, int, Any]] = []  # (file, class index, header info)
    for index, folder in enumerate(classes):
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            try:
                found.append((file, index, probe(file)))
            except DataError as exc:
                skipped.append({"file": file.relative_to(root).as_posix(), "reason": exc.message})
    channels = channels or (3 if any(info.colour for _, _, info in found) else 1)
    size = tuple(image_size) if image_size else _default_size(found)
    images, labels, ids = [], [], []
    digest = hashlib.sha256()
    resized = 0
    for file, index, info in found:
        relative = file.relative_to(root).as_posix()
        try:
            pixels = read_image(file, size, channels)
        except DataError as exc:
            skipped.append({"file": relative, "reason": exc.message})
            continue
        digest.update(relative.encode() + b"\0" + hashlib.sha256(file.read_bytes()).digest())
        resized += (info.height, info.width) != size
        images.append(pixels)
        labels.append(index)
        ids.append(relative)
    names = tuple(p.name for p in classes)
    if not images:
        raise DataError(f"{root}: no readable images in {len(classes)} class folder(s)")
    return ImageDataset(root.name, str(root), digest.hexdigest(), np.stack(images), np.asarray(labels, np.int64),
                        names, np.asarray(ids), tuple(sorted(skipped, key=lambda s: s["file"])), int(resized))


def _default_size(found) -> tuple[int, int]:
    if not found:
        return (1, 1)  # nothing readable; the caller reports it
    (height, width), _ = Counter((info.height, info.width) for _, _, info in found).most_common(1)[0]
    longer = max(height, width)
    if longer <= DEFAULT_MAX_SIDE:
        return height, width
    scale = DEFAULT_MAX_SIDE / longer
    return max(1, round(height * scale)), max(1, round(width * scale))


def _check_classes(dataset: ImageDataset, min_per_class: int) -> None:
    counts = dataset.counts()
    if len(counts) < 2:
        raise DataError(f"{dataset.source}: only {len(counts)} class ({', '.join(counts) or 'none'}); "
                        "classification needs at least 2", hint="add a subfolder of images for each class")
    few = {name: n for name, n in counts.items() if n < min_per_class}
    if few:
        listed = ", ".join(f"{name!r} ({n})" for name, n in few.items())
        raise DataError(f"{dataset.source}: too few images in class(es) {listed}; each class needs at least "
                        f"{min_per_class} (train, validation and test get one or more each)",
                        hint="add images to those classes or remove their folders")


def split_indices(labels: np.ndarray, *, test_size: float, validation_size: float, seed: int) -> dict[str, np.ndarray]:
    """Stratified train/validation/test indices: every class in every split, shuffled with ``seed``.

    Per class, ``round(n * size)`` images (at least one) go to test and to validation, the
    rest to train; scikit-learn's ``train_test_split`` cannot promise each small class a
    place in all three splits."""
    for name, value in (("test_size", test_size), ("validation_size", validation_size)):
        if not 0 < value < 1:
            raise ConfigError(f"{name} must be between 0 and 1, not {value}")
    if test_size + validation_size >= 1:
        raise ConfigError("test_size + validation_size must leave images to train on")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = max(1, round(len(members) * test_size))
        n_val = max(1, round(len(members) * validation_size))
        parts["test"].append(members[:n_test])
        parts["validation"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}
