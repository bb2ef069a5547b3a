"""The image lifecycle through the real CLI (``python -m edgekit`` subprocesses): a PNG folder of
digits upscaled to 32x32, grayscale and RGB mixed, with a corrupt file and a text file, is
trained, converted and predicted on; the skipped files are reported; bad input exits 2."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

PER_CLASS = 12


def edgekit(*args):
    return subprocess.run([sys.executable, "-m", "edgekit", *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory):
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = tmp_path_factory.mktemp("images") / "digits32"
    for label in range(10):
        (root / str(label)).mkdir(parents=True)
        rows = np.flatnonzero(digits.target == label)[:PER_CLASS]
        for n, row in enumerate(rows):
            pixels = np.round(digits.images[row] * 255 / 16).astype(np.uint8)
            image = Image.fromarray(pixels, "L").resize((32, 32), Image.Resampling.BILINEAR)
            if n % 2:  # half of them RGB (a tinted copy), half grayscale
                image = Image.merge("RGB", (image, image, image.point(lambda v: v // 2)))
            image.save(root / str(label) / f"{row}.png")
    (root / "3" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(50)))
    (root / "7" / "notes.txt").write_text("these are sevens")
    return root


@pytest.fixture(scope="module")
def trained(png_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles") / "digits32"
    done = edgekit("train", png_folder, "--out", out, "--n-iter", "1", "--epochs", "3", "--no-augment")
    assert done.returncode == 0, done.stderr
    return out, done


@pytest.fixture(scope="module")
def int8_export(trained):
    bundle, _ = trained
    done = edgekit("convert", bundle, "--to", "tflite", "--quantize", "int8", "--allow-degraded")
    assert done.returncode == 0, done.stderr
    return next((bundle / "exports").rglob("model.tflite"))


def test_training_a_mixed_png_folder_reports_the_two_skipped_files(trained):
    bundle, done = trained
    card = json.loads((bundle / "image_card.json").read_text())
    assert {s["file"] for s in card["data"]["skipped"]} == {"3/corrupt.png", "7/notes.txt"}
    assert "skipped 2 file(s)" in done.stderr and "3/corrupt.png" in done.stderr and "7/notes.txt" in done.stderr
    assert card["input"]["height"] == card["input"]["width"] == 32
    assert card["input"]["channels"] == 3 and card["input"]["channel_order"] == "RGB"  # some images have colour
    assert card["data"]["images"] == 10 * PER_CLASS
    assert "Leaderboard" in done.stdout and "bundle written to" in done.stdout


def test_convert_gives_a_uint8_tflite_with_the_class_folders_as_labels(int8_export):
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.runtime import read_manifest

    assert Interpreter(model_path=str(int8_export)).get_input_details()[0]["dtype"] == np.uint8
    manifest = read_manifest(int8_export)
    assert list(manifest.labels) == [str(d) for d in range(10)]
    assert manifest.adapter["channel_order"] == "RGB" and manifest.adapter["height"] == 32


def test_predict_one_photo_prints_the_top_3(int8_export, png_folder):
    from edgekit.runtime import load

    photo = next((png_folder / "4").glob("*.png"))
    done = edgekit("predict", int8_export, photo)
    assert done.returncode == 0, done.stderr
    expected = load(int8_export).predict(photo, top_k=3)
    lines = done.stdout.strip().splitlines()
    assert lines[0] == f"{photo.name}:"
    assert [line.split()[1] for line in lines[1:]] == expected.top_k[0]


def test_predict_a_folder_streams_every_file_into_a_csv(int8_export, png_folder, tmp_path):
    from edgekit.runtime import load

    out = tmp_path / "preds.csv"
    done = edgekit("predict", int8_export, png_folder, "--out", out)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    files = sorted(p for p in png_folder.rglob("*") if p.is_file())
    assert [r["file"] for r in rows] == [p.relative_to(png_folder).as_posix() for p in files]
    errors = {r["file"]: r["error"] for r in rows if r["error"]}
    assert set(errors) == {"3/corrupt.png", "7/notes.txt"}
    good = [p for p in files if p.relative_to(png_folder).as_posix() not in errors]
    expected = load(int8_export).predict(good)
    by_file = {r["file"]: r for r in rows}
    assert [by_file[p.relative_to(png_folder).as_posix()]["label"] for p in good] == expected.labels
    assert "could not be read" in done.stderr


def test_bad_image_input_exits_2_with_one_line(tmp_path, png_folder):
    (tmp_path / "empty").mkdir()
    for args in (["train", tmp_path / "empty"], ["train", png_folder, "--target", "label"],
                 ["train", png_folder, "--image-size", "big"]):
        done = edgekit(*args, "--out", tmp_path / "never")
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.strip().startswith("edgekit: error:") and "Traceback" not in done.stderr
    assert not (tmp_path / "never").exists()
