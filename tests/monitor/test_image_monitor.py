"""``edgekit monitor`` on an image bundle: the digits test images streamed through the int8
export with a prediction log. Unchanged they stay ok; darkened by 50% they alert on
brightness; turned a quarter they alert on edge orientation, predicted classes and
confidence. Statistics are checked against scipy's KS test on values Pillow computes."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageStat
from scipy.stats import ks_2samp
from sklearn.metrics import accuracy_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/image_models.py: the cached digits bundle
from image_models import digits  # noqa: E402,F401  (a session fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def splits(digits):
    from edgekit.train.image_bundle import load_image_bundle

    bundle = load_image_bundle(digits.bundle)
    return bundle.split("train"), bundle.split("test")


def stream(digits, pixels: np.ndarray, log: Path, name: str = "tflite-int8"):
    """Predict ``pixels`` in batches of 64 with a prediction log, as a device would."""
    from edgekit.runtime import load

    labels, ids = [], []
    with load(digits.export(name), log=log) as model:
        for start in range(0, len(pixels), 64):
            prediction = model.predict(pixels[start:start + 64])
            labels += prediction.labels
            ids += prediction.request_ids
    return labels, ids


def darkened(pixels: np.ndarray) -> np.ndarray:
    return np.round(pixels * 0.5).astype(np.uint8)


def pillow_mean(pixels: np.ndarray) -> np.ndarray:
    return np.array([ImageStat.Stat(Image.fromarray(p[..., 0], "L")).mean[0] for p in pixels])


def test_darkened_images_alert_on_brightness_and_unchanged_ones_stay_ok(digits, splits, tmp_path, run_cli):
    train, test = splits
    stream(digits, test.x, tmp_path / "same.db")
    stream(digits, darkened(test.x), tmp_path / "dark.db")

    code, out, _ = run_cli(["monitor", str(tmp_path / "same.db"), "--bundle", str(digits.bundle),
                            "--out", str(tmp_path / "same"), "--no-plots"])
    same = json.loads((tmp_path / "same" / "monitor.json").read_text())
    assert code == 0 and same["status"] == "ok", out
    code, out, _ = run_cli(["monitor", str(tmp_path / "dark.db"), "--bundle", str(digits.bundle),
                            "--out", str(tmp_path / "dark"), "--no-plots"])
    dark = json.loads((tmp_path / "dark" / "monitor.json").read_text())
    assert code == 3 and dark["status"] == "alert"
    features = {f["name"]: f for f in dark["features"]}
    assert features["brightness"]["status"] == "alert" and "brightness" in out
    assert "| brightness | numeric | 359 |" in (tmp_path / "dark" / "monitor.md").read_text()

    # The KS statistic is scipy's on the mean pixel value as Pillow measures it.
    ks = next(c for c in features["brightness"]["checks"] if c["name"] == "ks")
    reference = ks_2samp(pillow_mean(train.x), pillow_mean(darkened(test.x)))
    assert ks["value"] == pytest.approx(reference.statistic, abs=1e-9)
    assert features["brightness"]["live_mean"] == pytest.approx(pillow_mean(darkened(test.x)).mean(), abs=1e-6)
    # A quarter of the training brightness is PSI's largest decile bin: everything moved.
    assert features["brightness"]["checks"][0]["value"] > 1
    # Rotation-free statistics of an unchanged geometry stay where they were.
    assert features["edge_orientation"]["status"] == "ok"


def test_a_rotated_stream_alerts_on_orientation_classes_and_confidence(digits, splits, tmp_path):
    from edgekit.monitor import run_monitor

    _, test = splits
    turned = np.ascontiguousarray(np.rot90(test.x, 1, axes=(1, 2)))
    stream(digits, turned, tmp_path / "turned.db")
    report = run_monitor(tmp_path / "turned.db", digits.bundle, out=None)
    assert report.status == "alert"
    statuses = {f.name: f.status for f in report.features}
    assert statuses["edge_orientation"] == "alert" and statuses["confidence"] == "alert"
    assert statuses["brightness"] == "ok"  # a rotation changes no brightness statistic
    assert report.prediction.status == "alert" and "prediction" in report.drifted
    assert any("test split" in note for note in report.notes)


def test_actuals_grade_accuracy_as_sklearn_computes_it(digits, splits, tmp_path):
    from edgekit.monitor import run_monitor

    _, test = splits
    names = [str(i) for i in range(10)]
    labels, ids = stream(digits, test.x, tmp_path / "log.db", name="tflite-fp32")
    truth = [names[i] for i in test.y]
    actuals = pd.DataFrame({"request_id": ids, "label": truth})
    report = run_monitor(tmp_path / "log.db", digits.bundle, actuals=actuals, window=100)
    assert report.performance.metric == "accuracy"
    assert report.performance.overall["accuracy"] == pytest.approx(accuracy_score(truth, labels))
    assert report.status == "ok"


def test_a_bundle_shipped_without_its_images_monitors_from_the_saved_reference(digits, splits, tmp_path):
    from edgekit.monitor import run_monitor

    _, test = splits
    stream(digits, darkened(test.x), tmp_path / "dark.db")
    run_monitor(tmp_path / "dark.db", digits.bundle)  # saves image_reference.json in the bundle
    copy = tmp_path / "shipped"
    shutil.copytree(digits.bundle, copy, ignore=shutil.ignore_patterns("images.npz"))
    report = run_monitor(tmp_path / "dark.db", copy)
    assert {f.name: f.status for f in report.features}["brightness"] == "alert"
    assert any("image_reference.json" in note for note in report.notes)
    assert report.features[0].check("ks").note == "reference is a pseudo-sample from the card's percentiles"


def test_a_tabular_log_against_an_image_bundle_is_refused(digits, tmp_path, run_cli):
    from edgekit.runtime.model import Prediction
    from edgekit.runtime.prediction_log import PredictionLog
    from edgekit.runtime.schema import Feature, Schema

    with PredictionLog(tmp_path / "rows.db", model_id="m" * 64, schema=Schema.of([Feature("w", "numeric", "float")])) as log:
        log.log({"w": np.array([1.0])}, Prediction("regression", np.array([2.0])))
    code, _, err = run_cli(["monitor", str(tmp_path / "rows.db"), "--bundle", str(digits.bundle)])
    assert code == 2 and "no image statistic" in err
