"""edgekit predict: real-time JSON and streamed CSV batches, checked against Model.predict."""

import csv
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from edgekit.runtime import load

ROW = {"cylinders": 4, "displacement": 97, "horsepower": 88, "weight": 2130, "acceleration": 14.5, "model_year": 70, "origin": 3}


def edgekit(*args):
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, timeout=300)


def test_json_single_row_and_list(mpg_nn):
    path = mpg_nn.export("tflite-int8")
    expected = load(path).predict([ROW]).values[0]
    one = edgekit("predict", str(path), "--json", json.dumps(ROW))
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout) == {"prediction": pytest.approx(expected, rel=1e-6)}
    many = json.loads(edgekit("predict", str(path), "--json", json.dumps([ROW, {**ROW, "weight": 4000}])).stdout)
    assert len(many) == 2 and many[1]["prediction"] < many[0]["prediction"]  # heavier car, fewer MPG


def test_json_errors_are_one_line(mpg_nn):
    done = edgekit("predict", str(mpg_nn.export("onnx-fp32")), "--json", '{"cylinders": 4}')
    assert done.returncode == 2 and "missing feature(s)" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert edgekit("predict", str(mpg_nn.export("onnx-fp32")), "--json", "{not json").returncode == 2
    assert edgekit("predict", str(mpg_nn.export("onnx-fp32"))).returncode == 2  # neither CSV nor --json


def test_csv_batches_match_model_predict_and_keep_passthrough_columns(mpg_nn, tmp_path):
    test = pd.read_csv(mpg_nn.bundle / "data" / "test.csv")
    test.insert(0, "id", [f"car-{i}" for i in range(len(test))])
    source = tmp_path / "in.csv"
    test.to_csv(source, index=False)
    out = tmp_path / "out.csv"
    path = mpg_nn.export("onnx-fp32")
    done = edgekit("predict", str(path), str(source), "--out", str(out), "--batch-size", "7", "--id-column", "id",
                   "--passthrough", "mpg")
    assert done.returncode == 0, done.stderr
    result = pd.read_csv(out)
    assert list(result.columns) == ["id", "mpg", "prediction"]
    assert result["id"].tolist() == test["id"].tolist() and result["mpg"].tolist() == test["mpg"].tolist()
    expected = load(path).predict(test.drop(columns=["id", "mpg"])).values
    np.testing.assert_allclose(result["prediction"], expected, rtol=1e-6)


def test_csv_for_a_classifier_writes_label_and_probabilities(iris_linear, tmp_path):
    test = pd.read_csv(iris_linear.bundle / "data" / "test.csv").drop(columns=["target"])
    source = tmp_path / "in.csv"
    test.to_csv(source, index=False)
    done = edgekit("predict", str(iris_linear.export("onnx-fp32")), str(source))
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(done.stdout.splitlines()))
    assert rows[0] == ["label", "p_0", "p_1", "p_2"] and len(rows) == len(test) + 1
    assert all(abs(sum(map(float, r[1:])) - 1) < 1e-4 for r in rows[1:])


def test_csv_with_an_unknown_extra_column_is_refused_not_dropped(mpg_nn, tmp_path):
    test = pd.read_csv(mpg_nn.bundle / "data" / "test.csv")  # the target column is ignored and named (see
    test["colour"] = "red"                                     # test_predict_ignored_columns); others are not
    source = tmp_path / "in.csv"
    test.to_csv(source, index=False)
    out = tmp_path / "out.csv"
    done = edgekit("predict", str(mpg_nn.export("onnx-fp32")), str(source), "--out", str(out))
    assert done.returncode == 2 and "unknown feature 'colour'" in done.stderr
    assert not out.exists()  # nothing half-written
