"""MobileNet candidates and --weights transfer learning, on a tiny subset of digits (3 classes,
upscaled to 32x32 inside the model, alpha 0.35, one short trial): the bundle reloads with
safe_mode and its fp32 TFLite equals Keras; a frozen backbone keeps the file's weights exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from image_models import bare_litert  # noqa: E402

pytestmark = pytest.mark.slow
TINY = {"n_iter": 1, "epochs": 1, "patience": 1, "network_size": (32, 32), "alpha": 0.35}


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = np.concatenate([np.flatnonzero(digits.target == c)[:15] for c in range(3)])
    path = tmp_path_factory.mktemp("mobilenet") / "digits3.npz"
    np.savez(path, x=np.round(digits.images[keep] * 255 / 16).astype(np.uint8), y=digits.target[keep])
    return path


def test_mobilenet_v2_bundle_reloads_safely_and_converts(npz, tmp_path):
    from edgekit.convert.foreign.options import ForeignOptions
    from edgekit.convert.image_bundle import convert_image_bundle
    from edgekit.train.image_api import ImageTrainConfig, train_images
    from edgekit.train.image_bundle import load_image_bundle

    result = train_images(npz, ImageTrainConfig(model="mobilenet_v2", **TINY), show_progress=False)
    assert result.card.network["architecture"] == "mobilenet_v2"
    bundle = load_image_bundle(result.save(tmp_path / "b"))
    model = bundle.load_model()  # safe_mode=True: no Lambda layer
    x = bundle.split("test").x.astype(np.float32)
    keras_proba = np.asarray(model(x, training=False))
    np.testing.assert_allclose(keras_proba, np.asarray(result.model(x, training=False)), atol=1e-6)
    # fp32 only: int8 calibration of a MobileNet costs about a minute here, and a 1-epoch model's int8 gate means
    # little; the int8 path is the same code the CNN's tests cover.
    report = convert_image_bundle(bundle.path, options=ForeignOptions(formats=("tflite",), quantizations=("fp32",)),
                                  show_progress=False)
    status = {r.name: r.status for r in report.results}
    assert status == {"tflite-fp32": "passed"} and all(r.path for r in report.results), status
    fp32 = next((Path(report.out) / "tflite-fp32").glob("model.*"))
    tflite, details = bare_litert(fp32, x)
    assert details["shape"][-1] == 1  # grayscale in: the model repeats the channel itself
    np.testing.assert_allclose(tflite, keras_proba, atol=1e-4)


def test_weights_freeze_the_backbone_and_a_wrong_alpha_is_a_usage_error(npz, tmp_path, capsys):
    from edgekit.cli.main import main
    from edgekit.train.image_api import ImageTrainConfig, train_images
    from edgekit.train.image_cnn import CnnParams
    from edgekit.train.image_mobilenet import backbone_arrays, build_backbone, build_mobilenet
    from edgekit.train.tf_env import import_keras

    keras = import_keras()

    donor = build_backbone("mobilenet_v2", 0.35, (48, 48))  # another input size: conv weights still fit
    # A freshly initialised backbone in inference mode passes almost nothing through its ReLUs;
    # shifted batch-norm offsets stand in for trained weights so the head sees real features.
    for layer in donor.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma, beta + 0.5, mean, variance])
    weights = tmp_path / "donor.weights.h5"
    donor.save_weights(weights)
    expected = [np.asarray(w) for w in donor.get_weights()]
    result = train_images(npz, ImageTrainConfig(model="mobilenet_v2", weights=str(weights), **TINY), show_progress=False)
    after = backbone_arrays(result.model)
    assert len(after) == len(expected)
    for got, want in zip(after, expected):
        np.testing.assert_array_equal(got, want)
    # The head trained: the same build under the seed run_search sets for trial 1 is its start.
    keras.utils.set_random_seed(1)
    start = build_mobilenet((8, 8, 1), 3, CnnParams(), kind="mobilenet_v2", alpha=0.35, network_size=(32, 32),
                            weights=weights)
    before = start.get_layer("probabilities").get_weights()[0]
    head = result.model.get_layer("probabilities").get_weights()[0]
    assert head.shape == before.shape and np.abs(head - before).max() > 1e-4
    assert result.card.network["pretrained"]["file"] == "donor.weights.h5"

    wrong = tmp_path / "alpha1.weights.h5"
    build_backbone("mobilenet_v2", 1.0, (32, 32)).save_weights(wrong)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:  # the real entry point, in-process
        main(["train", str(npz), "--model", "mobilenet_v2", "--alpha", "0.35", "--network-size", "32x32",
              "--weights", str(wrong), "--n-iter", "1", "--epochs", "1", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert "alpha1.weights.h5 does not fit a mobilenet_v2 alpha 0.35 backbone" in err
    assert not (tmp_path / "x").exists()
