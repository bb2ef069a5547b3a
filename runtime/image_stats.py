"""Per-image summary statistics: what the prediction log keeps of an image instead of its pixels.

Every statistic is one number per image, computed from the uint8 pixels the model takes
(after decoding, channel conversion and resizing), so a device, the server and the
monitor's reference (the bundle's training images) measure exactly the same thing:

* ``brightness``: mean luma (ITU-R 601-2, Pillow's grayscale weights; the channel itself
  for grayscale), 0..255;
* ``contrast``: standard deviation of luma;
* ``sharpness``: variance of the 4-neighbour Laplacian of luma (blur lowers it);
* ``dark_clipped`` / ``bright_clipped``: share of pixels with luma <= 4 / >= 251
  (under- and over-exposure);
* ``edge_orientation``: ln((E_x + 1) / (E_y + 1)) with E_x, E_y the mean squared
  horizontal / vertical pixel differences; a 90-degree rotation flips its sign, which
  no brightness statistic sees;
* for RGB also ``mean_R``, ``mean_G``, ``mean_B`` and ``std_R``, ``std_G``, ``std_B``
  (colour casts, white balance).

Only numpy: this runs on devices next to the model.
"""

from __future__ import annotations

import numpy as np

from edgekit.runtime.errors import SchemaError
from edgekit.runtime.schema import Feature, Schema

LUMA = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
DARK_AT = 4.0
BRIGHT_AT = 251.0
COMMON = ("brightness", "contrast", "sharpness", "dark_clipped", "bright_clipped", "edge_orientation")


def statistic_names(channel_order: str) -> tuple[str, ...]:
    """The statistics logged for a model taking ``channel_order`` ("L" or "RGB") images."""
    if channel_order == "L":
        return COMMON
    if channel_order == "RGB":
        return COMMON + tuple(f"mean_{c}" for c in "RGB") + tuple(f"std_{c}" for c in "RGB")
    raise SchemaError(f"image statistics need 'L' or 'RGB' images, not {channel_order!r}")


def statistics_schema(channel_order: str) -> Schema:
    """The statistics as the prediction log's feature schema (all numeric)."""
    return Schema.of(Feature(name, "numeric", "float") for name in statistic_names(channel_order))


def image_statistics(pixels: np.ndarray) -> dict[str, np.ndarray]:
    """One float64 array of length n per statistic, for uint8 [n, h, w, c] pixels (c = 1 or 3)."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 4 or pixels.shape[-1] not in (1, 3):
        raise SchemaError(f"image statistics need [n, h, w, 1 or 3] pixels; got shape {list(pixels.shape)}")
    n = len(pixels)
    # float32 keeps a 224x224 RGB batch of 64 at ~40 MB; the sums are per image, small.
    values = pixels.astype(np.float32)
    luma = values[..., 0] if pixels.shape[-1] == 1 else values @ LUMA  # [n, h, w]
    flat = luma.reshape(n, -1)
    out = {
        "brightness": flat.mean(axis=1, dtype=np.float64),
        "contrast": flat.std(axis=1, dtype=np.float64),
        "sharpness": _laplacian_variance(luma),
        "dark_clipped": (flat <= DARK_AT).mean(axis=1, dtype=np.float64),
        "bright_clipped": (flat >= BRIGHT_AT).mean(axis=1, dtype=np.float64),
        "edge_orientation": _edge_orientation(luma),
    }
    if pixels.shape[-1] == 3:
        per_channel = values.reshape(n, -1, 3)
        means = per_channel.mean(axis=1, dtype=np.float64)
        stds = per_channel.std(axis=1, dtype=np.float64)
        for i, c in enumerate("RGB"):
            out[f"mean_{c}"] = means[:, i]
        for i, c in enumerate("RGB"):
            out[f"std_{c}"] = stds[:, i]
    return out


def _laplacian_variance(luma: np.ndarray) -> np.ndarray:
    n, h, w = luma.shape
    if h < 3 or w < 3:  # no interior pixel: undefined, logged as missing
        return np.full(n, np.nan)
    lap = (4 * luma[:, 1:-1, 1:-1] - luma[:, :-2, 1:-1] - luma[:, 2:, 1:-1] - luma[:, 1:-1, :-2] - luma[:, 1:-1, 2:])
    return lap.reshape(n, -1).var(axis=1, dtype=np.float64)


def _edge_orientation(luma: np.ndarray) -> np.ndarray:
    n, h, w = luma.shape
    ex = np.square(np.diff(luma, axis=2)).reshape(n, -1).mean(axis=1, dtype=np.float64) if w > 1 else np.zeros(n)
    ey = np.square(np.diff(luma, axis=1)).reshape(n, -1).mean(axis=1, dtype=np.float64) if h > 1 else np.zeros(n)
    return np.log((ex + 1.0) / (ey + 1.0))
