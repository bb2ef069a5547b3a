"""Training the image CNN: digits-images with a tiny budget, judged against scikit-learn's own
digits labels; the architecture, the search and the image card checked on what Keras and
numpy report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/image_models.py: the cached digits bundle
from image_models import digits  # noqa: E402,F401  (a session fixture and helpers)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def bundle(digits):
    from edgekit.train.image_bundle import load_image_bundle

    return load_image_bundle(digits.bundle)


def _keras_proba(bundle, x):
    model = bundle.load_model()  # safe_mode=True
    return np.asarray(model(x.astype(np.float32), training=False))


def test_digits_cnn_is_far_above_chance_on_scikit_learns_labels(bundle):
    from sklearn.datasets import load_digits

    digits = load_digits()
    test = bundle.split("test")
    rows = np.asarray([int(i.split(":")[1]) for i in test.ids])
    # The bundle's test images are scikit-learn's digits at those rows, scaled to 0..255.
    np.testing.assert_array_equal(test.x[..., 0], np.round(digits.images[rows] * 255 / 16).astype(np.uint8))
    predicted = _keras_proba(bundle, test.x).argmax(1)
    names = bundle.card.class_names
    accuracy = np.mean([names[p] == str(t) for p, t in zip(predicted, digits.target[rows])])
    assert accuracy > 0.8  # chance is 0.1; a tiny budget of one short trial
    assert bundle.card.test_metrics["accuracy"] == pytest.approx(accuracy)


def test_the_card_lists_the_misclassified_test_images_and_the_bundle_draws_them(bundle):
    from PIL import Image

    test = bundle.split("test")
    proba = _keras_proba(bundle, test.x)
    wrong = np.flatnonzero(proba.argmax(1) != test.y)
    listed = bundle.card.misclassified
    names = bundle.card.class_names
    assert sorted(item["index"] for item in listed) == sorted(wrong.tolist())[:100]
    for item in listed:
        i = item["index"]
        assert item["id"] == test.ids[i] and item["true"] == names[test.y[i]]
        assert item["predicted"] == names[proba[i].argmax()] and item["probability"] == pytest.approx(proba[i].max(), abs=1e-5)
    assert [item["probability"] for item in listed] == sorted((item["probability"] for item in listed), reverse=True)
    figure = bundle.path / "misclassified.png"
    assert figure.is_file() == bool(listed)
    if listed:
        with Image.open(figure) as image:
            assert image.format == "PNG" and min(image.size) > 100


def test_no_mistakes_draw_no_figure(tmp_path):
    from edgekit.train.image_plots import draw_misclassified, misclassified

    proba = np.asarray([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    mistakes = misclassified(np.asarray([0, 1, 1]), proba, ["a", "b", "c"], ["zero", "one"])
    assert mistakes == [{"index": 2, "id": "c", "true": "one", "predicted": "zero", "probability": 0.6}]
    images = np.zeros((3, 8, 8, 3), np.uint8)
    assert draw_misclassified(images, [], tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()
    assert draw_misclassified(images, mistakes, tmp_path / "one.png").is_file()


def test_splits_are_disjoint_stratified_and_cover_every_digit(bundle):
    ids = {name: set(bundle.split(name).ids) for name in ("train", "validation", "test")}
    assert not (ids["train"] & ids["test"]) and not (ids["train"] & ids["validation"]) and not (ids["validation"] & ids["test"])
    assert sum(len(v) for v in ids.values()) == 1797
    test_counts = np.bincount(bundle.split("test").y, minlength=10)
    assert test_counts.min() >= 35 and test_counts.max() <= 37  # 20% of each class (174..183 images)


def test_the_card_describes_input_pixels_and_test_metrics(bundle):
    card = bundle.card
    assert card.class_names == [str(d) for d in range(10)]
    assert {k: card.input[k] for k in ("name", "height", "width", "channels", "channel_order", "pixel_range")} == \
        {"name": "image", "height": 8, "width": 8, "channels": 1, "channel_order": "L", "pixel_range": [0, 255]}
    train = bundle.split("train").x.astype(np.float64)
    stats = card.pixel_statistics
    assert stats["channels"]["L"]["mean"] == pytest.approx(train.mean())
    assert stats["channels"]["L"]["std"] == pytest.approx(train.std())
    brightness = train.mean(axis=(1, 2, 3))
    assert stats["brightness"]["counts"] == np.histogram(brightness, bins=np.linspace(0, 255, 17))[0].tolist()
    m = card.test_metrics
    matrix = np.asarray(m["confusion_matrix"])
    assert matrix.sum() == m["images"] == len(bundle.split("test").y)
    assert np.trace(matrix) / matrix.sum() == pytest.approx(m["accuracy"])
    assert m["accuracy"] <= m["top_k_accuracy"]["top_2"] <= m["top_k_accuracy"]["top_3"] <= m["top_k_accuracy"]["top_5"]
    assert set(m["per_class"]) == set(card.class_names)
    assert sum(c["support"] for c in m["per_class"].values()) == m["images"]
    for key in ("precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted", "f1_weighted"):
        assert 0 < m[key] <= 1
    assert card.data["skipped"] == [] and card.data["images"] == 1797
    assert len(card.leaderboard) == 1 and card.leaderboard[0]["rank"] == 1
    json.loads((bundle.path / "image_card.json").read_text())  # plain JSON on disk


def test_the_saved_model_takes_raw_pixels_and_holds_no_random_layers(bundle):
    model = bundle.load_model()
    assert tuple(model.input.shape) == (None, 8, 8, 1) and model.input.name == "image"
    kinds = {type(layer).__name__ for layer in model.layers}
    assert "Rescaling" in kinds and "BatchNormalization" in kinds
    assert not [k for k in kinds if k.startswith("Random")]  # augmentation stays in the input pipeline
    assert model.output_names == ["probabilities"]


def test_separable_blocks_resizing_and_stages_follow_the_options():
    from edgekit.train.image_cnn import CnnParams, build_cnn, stages_for

    assert [stages_for(s, s) for s in (8, 32, 96, 224)] == [1, 3, 4, 5]
    plain = build_cnn((32, 32, 3), 4, CnnParams(width=8))
    separable = build_cnn((32, 32, 3), 4, CnnParams(width=8, separable=True))
    resized = build_cnn((8, 8, 1), 3, CnnParams(width=8), network_size=(16, 16))
    kinds = lambda m: [type(layer).__name__ for layer in m.layers]  # noqa: E731
    assert kinds(plain).count("MaxPooling2D") == 3 and "SeparableConv2D" not in kinds(plain)
    assert kinds(separable).count("SeparableConv2D") == kinds(plain).count("Conv2D") - 1  # all but the first
    assert separable.count_params() < plain.count_params()
    assert "Resizing" in kinds(resized) and kinds(resized).count("MaxPooling2D") == 2  # 16x16 works in 2 stages
    assert tuple(resized.output.shape) == (None, 3)


def test_search_widths_give_the_last_blocks_at_least_64_filters():
    from edgekit.train.image_cnn import CnnParams, build_cnn, stages_for
    from edgekit.train.image_search import WIDTHS, parameter_points, search_widths

    assert search_widths(1) == (32,) and search_widths(2) == (16, 32) and search_widths(3) == tuple(WIDTHS)
    for side in (8, 16, 32):
        stages = stages_for(side, side)
        points = parameter_points(6, 0, separable=False, stages=stages)
        assert points[0].width == max(16, 64 // 2**stages) and points[0].learning_rate == 1e-3
        assert {p.width for p in points} <= set(search_widths(stages))
    # The last convolution of the narrowest 8x8 network has 64 filters.
    model = build_cnn((8, 8, 1), 10, CnnParams(width=search_widths(1)[0]))
    assert [layer for layer in model.layers if type(layer).__name__ == "Conv2D"][-1].filters == 64


def test_the_search_draws_points_keeps_a_leaderboard_and_stops_at_its_time_budget(tmp_path):
    from edgekit.train.image_api import ImageTrainConfig, train_images

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 8, 8), dtype=np.uint8)
    y = np.repeat([0, 1], 20)
    x[y == 1, :4] = 255  # a learnable difference
    np.savez(tmp_path / "two.npz", x=x, y=y)
    small = dict(epochs=1, patience=1, min_per_class=5)
    searched = train_images(tmp_path / "two.npz", ImageTrainConfig(n_iter=2, **small), show_progress=False)
    board = searched.card.leaderboard
    assert sorted(r["trial"] for r in board) == [1, 2]
    first = next(r for r in board if r["trial"] == 1)
    # 8x8 images: one stage, so the default width 16 is raised to 32 (64 filters in the last blocks)
    assert first["params"] == {"width": 32, "separable": False, "learning_rate": 0.001, "dropout": 0.2}
    assert len({(r["params"]["width"], r["params"]["learning_rate"]) for r in board}) == 2  # a drawn point
    assert [r["rank"] for r in board] == [1, 2]
    accuracies = [r["val_accuracy"] for r in board]
    assert accuracies == sorted(accuracies, reverse=True)
    budgeted = train_images(tmp_path / "two.npz", ImageTrainConfig(n_iter=2, time_budget=0, **small), show_progress=False)
    assert len(budgeted.card.leaderboard) == 1
