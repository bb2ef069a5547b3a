"""The README's maintenance walkthrough, run from the CLI exactly as documented."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def edgekit(*args, cwd):
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, cwd=cwd, timeout=900)


@pytest.mark.slow
def test_drift_is_flagged_and_a_better_model_is_promoted(tmp_path):
    old, new = EXAMPLES / "auto_mpg_70_76.csv", EXAMPLES / "auto_mpg_77_82.csv"
    assert pd.read_csv(old)["model_year"].max() == 76 and pd.read_csv(new)["model_year"].min() == 77

    assert edgekit("train", str(old), "--target", "mpg", "--models", "svm,rf", "--quick", "--out", "champion", cwd=tmp_path).returncode == 0
    assert edgekit("convert", "champion", cwd=tmp_path).returncode == 0
    model = "champion/exports/onnx-fp32/model.onnx"

    # A stream from the training period (the champion's own test split) is ok.
    held = pd.read_csv(tmp_path / "champion" / "data" / "test.csv")
    held.insert(0, "car_id", range(len(held)))
    held.to_csv(tmp_path / "held.csv", index=False)
    for stream, log in (("held.csv", "held.db"), (str(new), "late.db")):
        done = edgekit("predict", model, stream, "--id-column", "car_id", "--passthrough", "mpg" if stream == "held.csv" else "mpg,car_name",
                       "--log", log, "--out", f"{log}.csv", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    ok = edgekit("monitor", "held.db", "--bundle", "champion", "--actuals", "held.csv", "--id-column", "car_id", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    alert = edgekit("monitor", "late.db", "--bundle", "champion", "--actuals", str(new), "--id-column", "car_id",
                    "--out", "monitor", cwd=tmp_path)
    assert alert.returncode == 3, alert.stdout + alert.stderr
    report = json.loads((tmp_path / "monitor" / "monitor.json").read_text())
    assert report["status"] == "alert" and report["performance"]["status"] == "alert"

    retrained = edgekit("retrain", "champion", "--data", str(new), "--registry", "registry", "--out", "challenger", "--quick",
                        cwd=tmp_path)
    assert retrained.returncode == 0, retrained.stderr
    result = json.loads((tmp_path / "challenger" / "retrain.json").read_text())
    assert result["promoted"] and result["challenger_score"] < result["champion_score"]
    assert (tmp_path / "challenger" / "bundle" / "exports" / "onnx-fp32" / "model.onnx").is_file()

    listed = json.loads(edgekit("registry", "list", "--root", "registry", "--json", cwd=tmp_path).stdout)
    assert [(v["name"], v["stage"], v["parent"]) for v in listed] == [("v1", "archived", None), ("v2", "production", 1)]
    challenger = listed[1]
    assert challenger["metrics"]["holdout"]["challenger"] == pytest.approx(result["challenger_score"])
    assert challenger["metrics"]["test"] and listed[0]["metrics"]["test"]
    assert challenger["new_data_sha256"] == result["new_data_sha256"]

    # Promotion is reversible.
    assert edgekit("registry", "rollback", "--root", "registry", cwd=tmp_path).returncode == 0
    after = json.loads(edgekit("registry", "list", "--root", "registry", "--json", cwd=tmp_path).stdout)
    assert [v["stage"] for v in after] == ["production", "archived"]


@pytest.mark.slow
def test_a_challenger_that_is_not_better_is_not_promoted(tmp_path):
    old = EXAMPLES / "auto_mpg_70_76.csv"
    assert edgekit("train", str(old), "--target", "mpg", "--models", "svm", "--quick", "--out", "champion", cwd=tmp_path).returncode == 0
    done = edgekit("retrain", "champion", "--data", str(old), "--promote-if", "never", "--registry", "registry", "--out", "c",
                   "--no-bench", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "c" / "retrain.json").read_text())
    assert not result["promoted"] and "never" in result["reason"]
    listed = json.loads(edgekit("registry", "list", "--root", "registry", "--json", cwd=tmp_path).stdout)
    assert [v["stage"] for v in listed] == ["production", "staging"]


def test_new_data_without_the_champions_columns_is_refused(tmp_path, mpg_svm):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"weight": [1, 2], "mpg": [3, 4]}).to_csv(bad, index=False)
    done = edgekit("retrain", str(mpg_svm.bundle), "--data", str(bad), "--out", "x", cwd=tmp_path)
    assert done.returncode == 2 and "lacks column(s)" in done.stderr and not (tmp_path / "x").exists()
