"""Per-image statistics against independent references: Pillow's ImageStat and its
grayscale conversion, scipy's Laplacian, and brute-force counts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageStat
from scipy import ndimage

from edgekit.runtime.image_stats import image_statistics, statistic_names, statistics_schema


@pytest.fixture(scope="module")
def rgb():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 12, 9, 3), dtype=np.uint8)
    images[0] = 255  # fully over-exposed
    images[1, :6] = 0  # half black
    return images


def test_rgb_channel_means_and_stds_equal_pillow_imagestat(rgb):
    stats = image_statistics(rgb)
    for i, image in enumerate(rgb):
        reference = ImageStat.Stat(Image.fromarray(image, "RGB"))
        for c, name in enumerate("RGB"):
            assert stats[f"mean_{name}"][i] == pytest.approx(reference.mean[c], abs=1e-4)
            assert stats[f"std_{name}"][i] == pytest.approx(reference.stddev[c], abs=1e-3)


def test_brightness_is_the_luma_pillow_converts_to(rgb):
    stats = image_statistics(rgb)
    for i, image in enumerate(rgb):
        luma = np.asarray(Image.fromarray(image, "RGB").convert("L"), dtype=np.float64)
        # Pillow rounds luma to whole numbers; ours keeps the fraction
        assert stats["brightness"][i] == pytest.approx(luma.mean(), abs=0.5)
        assert stats["contrast"][i] == pytest.approx(luma.std(), abs=0.5)


def test_sharpness_is_the_variance_of_scipys_laplacian_inside_the_border():
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, size=(4, 10, 7, 1), dtype=np.uint8)
    stats = image_statistics(gray)
    for i, image in enumerate(gray[..., 0].astype(np.float64)):
        laplace = ndimage.laplace(image)[1:-1, 1:-1]
        assert stats["sharpness"][i] == pytest.approx(laplace.var(), rel=1e-6)
    assert np.isnan(image_statistics(gray[:, :2, :2])["sharpness"]).all()  # no interior pixel


def test_clipped_shares_count_dark_and_bright_pixels(rgb):
    stats = image_statistics(rgb)
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    for i in range(len(rgb)):
        assert stats["dark_clipped"][i] == pytest.approx(np.count_nonzero(luma[i] <= 4) / luma[i].size, abs=1e-6)
        assert stats["bright_clipped"][i] == pytest.approx(np.count_nonzero(luma[i] >= 251) / luma[i].size, abs=1e-6)
    assert stats["bright_clipped"][0] == 1.0 and stats["dark_clipped"][1] >= 0.5


def test_a_quarter_turn_flips_edge_orientation_and_keeps_brightness():
    rng = np.random.default_rng(2)
    stripes = np.repeat(rng.integers(0, 256, size=(3, 1, 16, 1), dtype=np.uint8), 16, axis=1)  # vertical stripes
    turned = np.rot90(stripes, 1, axes=(1, 2))
    a, b = image_statistics(stripes), image_statistics(turned)
    np.testing.assert_allclose(a["edge_orientation"], -b["edge_orientation"], atol=1e-12)
    assert (a["edge_orientation"] > 1).all()  # all gradient energy is horizontal
    np.testing.assert_allclose(a["brightness"], b["brightness"])


def test_names_and_schema_follow_the_channels():
    assert statistic_names("L") == ("brightness", "contrast", "sharpness", "dark_clipped", "bright_clipped",
                                    "edge_orientation")
    assert statistics_schema("RGB").names[-6:] == ["mean_R", "mean_G", "mean_B", "std_R", "std_G", "std_B"]
    assert set(image_statistics(np.zeros((1, 4, 4, 1), np.uint8))) == set(statistic_names("L"))
