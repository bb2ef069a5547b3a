"""Image data in: real PNG/JPEG/BMP files written with Pillow, .npz archives and digits-images,
checked against the pixels Pillow itself decodes and scikit-learn's own digits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgekit.runtime.errors import ConfigError, DataError
from edgekit.train.image_data import is_image_source, load_images, split_indices


def _pattern(seed: int, size: tuple[int, int], colour: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (size[0], size[1], 3) if colour else size
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def mixed_folder(tmp_path):
    """Two classes of PNG/JPEG/BMP files, mixed sizes, grayscale and RGB, one corrupt file,
    one text file and a stray file outside any class folder."""
    root = tmp_path / "shapes"
    files = {}
    for c, name in enumerate(("circle", "square")):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(6):
            colour = i % 2 == 0
            size = (12, 12) if i < 4 else (20, 16)
            suffix = ("png", "jpg", "bmp")[i % 3]
            path = folder / f"{i}.{suffix}"
            Image.fromarray(_pattern(10 * c + i, size, colour)).save(path)
            files[f"{name}/{i}.{suffix}"] = path
    (root / "circle" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    (root / "square" / "notes.txt").write_text("a text file among the images")
    (root / "README.md").write_text("stray")
    return root, files


def test_a_mixed_folder_loads_as_one_size_and_colour_and_lists_every_skipped_file(mixed_folder):
    root, files = mixed_folder
    data = load_images(root)
    # Colour images are present, so everything is RGB; the most common size (12x12) wins.
    assert data.images.shape == (12, 12, 12, 3) and data.images.dtype == np.uint8
    assert data.class_names == ("circle", "square")
    assert data.counts() == {"circle": 6, "square": 6}
    assert data.resized == 4  # the 20x16 images
    skipped = {s["file"]: s["reason"] for s in data.skipped}
    assert set(skipped) == {"circle/broken.png", "square/notes.txt", "README.md"}
    assert "not a readable image" in skipped["circle/broken.png"]
    assert "class folder" in skipped["README.md"]
    # Each image equals what Pillow decodes, converts and resizes itself.
    for pixels, label, name in zip(data.images, data.labels, data.ids):
        with Image.open(files[name]) as image:
            expected = np.asarray(image.convert("RGB").resize((12, 12), Image.Resampling.BILINEAR))
        assert np.array_equal(pixels, expected), name
        assert data.class_names[label] == name.split("/")[0]


def test_grayscale_requested_converts_with_pillows_luma_and_resizes_to_the_given_size(mixed_folder):
    root, files = mixed_folder
    data = load_images(root, image_size=(8, 10), channels=1)
    assert data.images.shape == (12, 8, 10, 1)
    name = data.ids[0]
    with Image.open(files[name]) as image:
        expected = np.asarray(image.convert("L").resize((10, 8), Image.Resampling.BILINEAR))
    assert np.array_equal(data.images[0, ..., 0], expected)


def test_an_all_grayscale_folder_stays_single_channel(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.fromarray(_pattern(i, (9, 9), False)).save(tmp_path / c / f"{i}.png")
    data = load_images(tmp_path)
    assert data.channels == 1 and data.channel_order == "L" and data.skipped == ()


def test_a_class_with_too_few_images_is_an_error_naming_it(tmp_path):
    for c, n in (("many", 6), ("few", 2)):
        (tmp_path / c).mkdir()
        for i in range(n):
            Image.fromarray(_pattern(i, (8, 8), False)).save(tmp_path / c / f"{i}.png")
    (tmp_path / "few" / "bad.jpg").write_bytes(b"garbage")  # a skipped file does not count
    with pytest.raises(DataError, match=r"'few' \(2\)"):
        load_images(tmp_path)


@pytest.mark.parametrize("layout", ["empty", "one-class", "no-readable"])
def test_folders_that_cannot_train_a_classifier_are_refused(tmp_path, layout):
    if layout == "one-class":
        (tmp_path / "only").mkdir()
        for i in range(6):
            Image.fromarray(_pattern(i, (8, 8), False)).save(tmp_path / "only" / f"{i}.png")
    elif layout == "no-readable":
        for c in ("a", "b"):
            (tmp_path / c).mkdir()
            (tmp_path / c / "x.png").write_text("text")
    with pytest.raises(DataError):
        load_images(tmp_path)


def test_a_decompression_bomb_is_skipped_from_its_header_without_decoding(tmp_path):
    import struct
    import zlib

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.fromarray(_pattern(i, (8, 8), False)).save(tmp_path / c / f"{i}.png")
    # A real PNG whose header is rewritten to claim 50,000 x 50,000 pixels (CRC fixed).
    data = bytearray((tmp_path / "a" / "0.png").read_bytes())
    ihdr = data[12:29]
    ihdr[4:12] = struct.pack(">II", 50_000, 50_000)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    (tmp_path / "a" / "bomb.png").write_bytes(bytes(data))
    loaded = load_images(tmp_path)
    (skipped,) = loaded.skipped
    assert skipped["file"] == "a/bomb.png" and "pixel limit" in skipped["reason"] and "decompression bomb" in skipped["reason"]
    assert loaded.counts() == {"a": 5, "b": 5}


def test_an_npz_of_grayscale_images_with_string_labels(tmp_path):
    x = np.stack([_pattern(i, (6, 7), False) for i in range(20)])
    y = np.asarray(["cat", "dog"] * 10)
    np.savez(tmp_path / "pets.npz", x=x, y=y)
    data = load_images(tmp_path / "pets.npz")
    assert data.images.shape == (20, 6, 7, 1)
    assert np.array_equal(data.images[..., 0], x)
    assert data.class_names == ("cat", "dog")
    assert [data.class_names[i] for i in data.labels] == list(y)


def test_an_npz_without_y_or_with_fractional_pixels_is_refused(tmp_path):
    np.savez(tmp_path / "nolabels.npz", x=np.zeros((4, 5, 5), np.uint8))
    with pytest.raises(DataError, match="'y'"):
        load_images(tmp_path / "nolabels.npz")
    np.savez(tmp_path / "floats.npz", x=np.full((10, 5, 5), 0.5), y=np.arange(10) % 2)
    with pytest.raises(DataError, match="whole pixel values"):
        load_images(tmp_path / "floats.npz")


def test_digits_images_are_scikit_learns_digits_scaled_to_0_255():
    from sklearn.datasets import load_digits

    digits = load_digits()
    data = load_images("digits-images")
    assert data.images.shape == (1797, 8, 8, 1)
    assert data.images.max() == 255 and data.images.min() == 0
    np.testing.assert_array_equal(data.images[..., 0], np.round(digits.images * 255 / 16).astype(np.uint8))
    assert np.array_equal(data.labels, digits.target)
    assert data.ids[5] == "digits:5"


def test_the_split_is_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(4), [50, 30, 10, 5])
    a = split_indices(labels, test_size=0.2, validation_size=0.1, seed=3)
    b = split_indices(labels, test_size=0.2, validation_size=0.1, seed=3)
    c = split_indices(labels, test_size=0.2, validation_size=0.1, seed=4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])
    everything = np.concatenate(list(a.values()))
    assert sorted(everything) == list(range(len(labels)))
    for name in ("train", "validation", "test"):
        assert set(labels[a[name]]) == {0, 1, 2, 3}, name  # every class in every split
    assert np.bincount(labels[a["test"]]).tolist() == [10, 6, 2, 1]


def test_image_sources_are_told_from_tables(tmp_path):
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    assert is_image_source("digits-images") and is_image_source(tmp_path) and is_image_source(tmp_path / "x.npz")
    assert not is_image_source(tmp_path / "table.csv") and not is_image_source("digits")


def test_bad_sizes_and_channels_are_config_errors():
    with pytest.raises(ConfigError):
        load_images("digits-images", image_size=(0, 8))
    with pytest.raises(ConfigError):
        load_images("digits-images", channels=2)
