"""Each bad training input: a clear one-line message, exit 2, nothing written."""

import subprocess
import sys

import pandas as pd
import pytest


def run_train(*args, cwd):
    return subprocess.run([sys.executable, "-m", "edgekit", "train", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def write(tmp_path, frame, name="data.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


CASES = {
    "missing file": (lambda t: ["nope.csv", "--target", "y"], "nope.csv: no such file"),
    "unreadable csv": (lambda t: [str(_bytes(t, b"a,b\n1,2\xff\n")), "--target", "a"], "not UTF-8"),
    "missing target": (lambda t: [write(t, pd.DataFrame({"x": [1, 2], "y": [1, 2]})), "--target", "z"],
                       "target column 'z' is not in the data"),
    "target all missing": (lambda t: [write(t, pd.DataFrame({"x": [1, 2, 3], "y": [None, None, None]})), "--target", "y"],
                           "entirely missing"),
    "text target for regression": (lambda t: [write(t, pd.DataFrame({"x": range(10), "y": list("abababcdcd")})),
                                              "--target", "y", "--task", "regression"], "not numeric"),
    "single class": (lambda t: [write(t, pd.DataFrame({"x": range(10), "y": ["a"] * 10})), "--target", "y",
                                "--task", "classification"], "single class"),
    "fewer rows than folds": (lambda t: [write(t, pd.DataFrame({"x": range(6), "y": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]})),
                                         "--target", "y", "--cv", "5"], "5-fold cross-validation"),
    "unknown model": (lambda t: [write(t, pd.DataFrame({"x": range(9), "y": range(9)})), "--target", "y", "--models", "xgb"],
                      "unknown model"),
}


def _bytes(tmp_path, data):
    path = tmp_path / "raw.csv"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, case):
    make_args, message = CASES[case]
    out = tmp_path / "bundle"
    done = run_train(*make_args(tmp_path), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgekit: error:") and message in lines[0]
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_entirely_missing_column_is_dropped_with_a_note_not_a_crash(tmp_path):
    frame = pd.DataFrame({"x": range(30), "empty": [None] * 30, "y": [i * 0.5 for i in range(30)]})
    out = tmp_path / "bundle"
    done = run_train(write(tmp_path, frame), "--target", "y", "--models", "linear", "--quick", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "dropped column 'empty': entirely missing" in done.stderr
    assert (out / "model_card.json").is_file()
