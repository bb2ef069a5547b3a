"""``edgekit monitor`` refuses unusable input with one line and exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.runtime.model import Prediction
from edgekit.runtime.prediction_log import PredictionLog
from edgekit.runtime.schema import Feature, Schema



@pytest.fixture
def small_log(tmp_path):
    path = tmp_path / "log.db"
    schema = Schema.of([Feature("weight", "numeric", "float")])
    with PredictionLog(path, model_id="m" * 64, schema=schema) as log:
        log.log({"weight": np.array([1.0, 2.0])}, Prediction("regression", np.array([3.0, 4.0])))
    return path


def expect_usage_error(run_cli, args, message):
    code, out, err = run_cli(args)
    assert code == 2, (out, err)
    assert err.startswith("edgekit: error:") and message in err
    assert len(err.strip().splitlines()) == 1


def test_a_missing_log(tmp_path, run_cli):
    expect_usage_error(run_cli, ["monitor", str(tmp_path / "missing.db"), "--bundle", str(tmp_path)], "no such prediction log")


def test_a_file_that_is_not_a_log(tmp_path, run_cli):
    (tmp_path / "notes.db").write_text("hello")
    expect_usage_error(run_cli, ["monitor", str(tmp_path / "notes.db"), "--bundle", str(tmp_path)], "not a readable SQLite")


def test_a_bundle_without_a_model_card(small_log, tmp_path, run_cli):
    (tmp_path / "bundle").mkdir()
    expect_usage_error(run_cli, ["monitor", str(small_log), "--bundle", str(tmp_path / "bundle")], "no model_card.json")


def test_a_bundle_whose_card_is_broken(small_log, tmp_path, run_cli):
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "model_card.json").write_text(json.dumps({"task": "regression"}))
    expect_usage_error(run_cli, ["monitor", str(small_log), "--bundle", str(tmp_path / "bundle")], "malformed model card")


def test_inconsistent_thresholds(small_log, tmp_path, run_cli):
    expect_usage_error(run_cli, ["monitor", str(small_log), "--bundle", str(tmp_path), "--psi-warn", "0.5", "--psi-alert", "0.2"],
                       "psi_alert")


def test_an_unknown_model_id(small_log, tmp_path, run_cli):
    expect_usage_error(run_cli, ["monitor", str(small_log), "--bundle", str(tmp_path), "--model-id", "deadbeefdeadbeef"],
                       "is not in the log")
