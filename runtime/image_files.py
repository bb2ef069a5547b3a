"""Image files to uint8 pixel arrays: the one decoder that training and prediction share.

Training resizes and converts its files with exactly the code a device later runs on a
photo, so a file predicts the same on both sides. Pillow is imported only here and only
when a file is read: the bare runtime (numpy and a backend) runs uint8 arrays without it,
and reading a file without it raises :class:`MissingDependencyError` naming the
``images`` extra.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.runtime.errors import DataError, MissingDependencyError

CHANNEL_ORDERS = {1: "L", 3: "RGB"}  # channels -> Pillow mode
CHANNELS = {mode: channels for channels, mode in CHANNEL_ORDERS.items()}
RESAMPLE = "bilinear"
# Modes without colour; any other mode (RGB, RGBA, P, CMYK, YCbCr...) counts as colour.
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# Pillow's own decompression-bomb limit (about 89 megapixels); a larger image is refused
# before it is decoded rather than after it has filled the memory.
MAX_PIXELS = 89_478_485


@dataclass(frozen=True)
class ImageInfo:
    """What an image file's header says, without decoding its pixels."""

    width: int
    height: int
    mode: str

    @property
    def colour(self) -> bool:
        return self.mode not in GRAYSCALE_MODES


def pillow():
    """PIL.Image, or a MissingDependencyError that names the extra to install."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise MissingDependencyError("Pillow", "images", purpose="to read image files") from exc
    return Image


def probe(path: str | os.PathLike) -> ImageInfo:
    """Size and mode from the header; DataError for anything Pillow cannot identify."""
    path = Path(path)
    image_module = pillow()
    try:
        with image_module.open(path) as image:
            info = ImageInfo(int(image.width), int(image.height), str(image.mode))
    except image_module.DecompressionBombError as exc:  # Pillow refuses twice its limit at open
        raise _too_large(path, _first_line(exc)) from exc
    except Exception as exc:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError, ValueError...
        raise DataError(f"{path.name}: not a readable image ({_first_line(exc)})") from exc
    _check_size(path, info)
    return info


def read_image(path: str | os.PathLike, size: tuple[int, int], channels: int) -> np.ndarray:
    """The pixels of ``path`` as uint8 [height, width, channels]: decoded, converted to
    grayscale (ITU-R 601-2 luma) or RGB, and resized bilinearly when its size differs."""
    path = Path(path)
    return _decode(path, path, size, channels)


def decode_image(data: bytes, size: tuple[int, int], channels: int, *, name: str = "image") -> np.ndarray:
    """Encoded image bytes (PNG, JPEG, BMP...) as :func:`read_image` reads a file of them;
    ``name`` is what errors call it."""
    import io

    return _decode(io.BytesIO(data), Path(name), size, channels)


def _decode(source, path: Path, size: tuple[int, int], channels: int) -> np.ndarray:
    mode = _mode(channels)
    image_module = pillow()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", image_module.DecompressionBombWarning)
            with image_module.open(source) as image:
                _check_size(path, ImageInfo(int(image.width), int(image.height), str(image.mode)))
                image.load()  # decode now: a truncated file fails here, not later
                converted = image.convert(mode)
    except DataError:
        raise
    except (image_module.DecompressionBombError, image_module.DecompressionBombWarning) as exc:
        raise _too_large(path, _first_line(exc)) from exc
    except Exception as exc:  # truncated data, bad CRCs, unsupported codecs: all Pillow-specific types
        reason = _first_line(exc)
        if not isinstance(source, Path):  # Pillow names an in-memory source by its repr
            reason = reason.replace(f" {source!r}", "")
        raise DataError(f"{path.name}: not a readable image ({reason})") from exc
    return _to_array(_resized(converted, size, image_module), channels)


def convert_array(pixels: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    """A uint8 [h, w, c] array converted and resized like a file of the same pixels."""
    pixels = np.asarray(pixels, dtype=np.uint8)
    height, width = size
    if pixels.shape == (height, width, channels):
        return pixels
    image_module = pillow()
    image = image_module.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, CHANNEL_ORDERS[pixels.shape[-1]])
    return _to_array(_resized(image.convert(_mode(channels)), size, image_module), channels)


def _resized(image, size: tuple[int, int], image_module):
    height, width = size
    if (image.height, image.width) == (height, width):
        return image
    return image.resize((width, height), image_module.Resampling.BILINEAR)


def _to_array(image, channels: int) -> np.ndarray:
    array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if channels == 1 else array


def _mode(channels: int) -> str:
    if channels not in CHANNEL_ORDERS:
        raise DataError(f"images have 1 (grayscale) or 3 (RGB) channels, not {channels}")
    return CHANNEL_ORDERS[channels]


def _check_size(path: Path, info: ImageInfo) -> None:
    pixels = info.width * info.height
    if pixels == 0:
        raise DataError(f"{path.name}: the image has no pixels ({info.width}x{info.height})")
    if pixels > MAX_PIXELS:
        raise _too_large(path, f"{info.width}x{info.height} pixels")


def _too_large(path: Path, what: str) -> DataError:
    return DataError(f"{path.name}: over the {MAX_PIXELS:,}-pixel limit ({what}): a decompression bomb, "
                     "or a photo to shrink first")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
