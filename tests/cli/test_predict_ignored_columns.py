"""edgekit predict on the very CSV a model was trained from: the target and the dropped
identifier are skipped and named, the predictions equal those on the features alone."""

import json
import subprocess
import sys

import pandas as pd
import pytest


def edgekit(*args):
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("variant", ["tflite-fp32", "onnx-fp32"])
def test_the_training_csv_itself_is_scored_and_the_ignored_columns_named(mpg_nn, tmp_path, variant):
    from edgekit.train import load_dataset

    frame = load_dataset("auto-mpg").frame
    assert {"car_name", "mpg"} <= set(frame.columns)
    full = tmp_path / "auto_mpg.csv"
    frame.to_csv(full, index=False)
    features = tmp_path / "features.csv"
    frame.drop(columns=["car_name", "mpg"]).to_csv(features, index=False)
    model = mpg_nn.export(variant)
    done = edgekit("predict", str(model), str(full), "--out", str(tmp_path / "a.csv"))
    assert done.returncode == 0, done.stderr
    assert "ignored column(s)" in done.stderr and "car_name (looks like an identifier" in done.stderr
    assert "mpg (the target)" in done.stderr
    plain = edgekit("predict", str(model), str(features), "--out", str(tmp_path / "b.csv"))
    assert plain.returncode == 0 and "ignored" not in plain.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))


def test_json_rows_with_the_target_are_scored_too(mpg_nn):
    row = {"cylinders": 4, "displacement": 97, "horsepower": 88, "weight": 2130, "acceleration": 14.5,
           "model_year": 70, "origin": 3}
    model = str(mpg_nn.export("onnx-fp32"))
    with_target = edgekit("predict", model, "--json", json.dumps({**row, "mpg": 27.0, "car_name": "datsun pl510"}))
    alone = edgekit("predict", model, "--json", json.dumps(row))
    assert with_target.returncode == 0, with_target.stderr
    assert json.loads(with_target.stdout) == json.loads(alone.stdout)
    # A column the model never heard of is still an error, not silently dropped.
    unknown = edgekit("predict", model, "--json", json.dumps({**row, "colour": "red"}))
    assert unknown.returncode == 2 and "colour" in unknown.stderr
