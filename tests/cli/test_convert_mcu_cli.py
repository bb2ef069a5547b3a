"""edgekit convert --to tflm: the CLI wiring of the microcontroller targets."""

import json
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def edgekit(*args):
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, timeout=600)


def test_a_keras_bundle_gets_tflm_artifacts_that_hold_the_model(mpg_nn, tmp_path):
    out = tmp_path / "mcu"
    done = edgekit("convert", str(mpg_nn.bundle), "--to", "tflm", "--mcu-ram", "64KB", "--mcu-flash", "1MB",
                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "mcu.json").read_text())
    passed = [r for r in report["results"] if r["status"] == "passed"]
    assert passed, report
    folder = out / passed[0]["name"]
    source = folder / "model_data.cc"
    assert source.is_file() and (folder / "model_ops.h").is_file()
    assert "alignas(16)" in source.read_text() and "kTensorArenaSize" in (folder / "model_data.h").read_text()
    assert "Microcontroller targets" in done.stdout


def test_over_budget_fails_with_both_numbers_and_exit_1(mpg_nn, tmp_path):
    done = edgekit("convert", str(mpg_nn.bundle), "--to", "tflm", "--mcu-ram", "1KB", "--out", str(tmp_path / "m"))
    assert done.returncode == 1, done.stderr
    assert "MCU target(s) failed" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    report = json.loads((tmp_path / "m" / "mcu.json").read_text())
    reasons = " ".join(r.get("reason") or "" for r in report["results"])
    assert "1,024 B" in reasons and "arena" in reasons


def test_a_foreign_int8_tflite_is_checked_on_the_eval_rows(foreign, tmp_path):
    np.savez(tmp_path / "eval.npz", image=foreign.digits_x[:60])
    np.save(tmp_path / "labels.npy", foreign.digits_y[:60])
    out = tmp_path / "cnn-mcu"
    done = edgekit("convert", str(foreign.cnn_int8), "--to", "tflm", "--eval", str(tmp_path / "eval.npz"),
                   "--eval-labels", str(tmp_path / "labels.npy"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    (row,) = json.loads((out / "mcu.json").read_text())["results"]
    assert row["status"] == "passed" and row["metric"]["name"] == "accuracy"


def test_mcu_budgets_without_tflm_are_a_usage_error(mpg_nn, tmp_path):
    done = edgekit("convert", str(mpg_nn.bundle), "--mcu-ram", "64KB", "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and "add --to tflm" in done.stderr
    assert not (tmp_path / "x").exists()
