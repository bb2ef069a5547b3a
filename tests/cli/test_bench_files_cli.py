"""`edgekit bench FILE [FILE ...]`: tables, reports, failed rows and exit codes, usage errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest


def edgekit(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "200"}  # rich wraps tables at 80 columns without a terminal
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, cwd=cwd, timeout=600, env=env)


TINY = ("--quick", "--runs", "20", "--profile", "pi-zero")


def test_two_files_give_one_table_and_reports(foreign, tmp_path):
    out = tmp_path / "bench"
    done = edgekit("bench", str(foreign.cnn_fp32), str(foreign.cnn_int8), *TINY, "--baseline", "cnn_int8_uint8io.tflite",
                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "cnn_fp32" in done.stdout and "cnn_int8" in done.stdout and "ratio to cnn_int8_uint8io.tflite" in done.stdout
    report = json.loads((out / "bench.json").read_text())
    assert report["mode"] == "files" and report["comparison"]["baseline"] == "cnn_int8_uint8io.tflite"
    assert report["settings"]["edge"]["runs"] == 20 and report["profile"]["name"] == "pi-zero"
    assert all(r["latency_ms"]["count"] == 20 for r in report["edge"])
    assert {"bench.md", "report.html"} <= {p.name for p in out.iterdir()}


def test_a_failing_file_is_a_failed_row_and_exit_1(foreign, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07 not really onnx")
    out = tmp_path / "bench"
    done = edgekit("bench", str(broken), str(foreign.dynamic), str(foreign.stateful_onnx), *TINY, "--out", str(out))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "failed: broken.onnx:" in done.stderr and "failed: dynamic_seq.tflite: input 'frames'" in done.stderr
    report = json.loads((out / "bench.json").read_text())
    assert [r["status"] for r in report["edge"]] == ["failed", "failed", "ok"]
    assert "--shape frames=1,N,6" in report["edge"][1]["error"]


def test_shape_option_fixes_the_dynamic_model(foreign):
    done = edgekit("bench", str(foreign.dynamic), *TINY, "--shape", "frames=2,9,6")
    assert done.returncode == 0, done.stderr
    assert "dynamic_seq" in done.stdout


@pytest.mark.parametrize("args, message", [
    (["--shape", "frames"], "--shape 'frames' is not NAME=D0,D1,..."),
    (["--shape", "frames=1,x,6"], "is not NAME=D0,D1,..."),
    (["--shape", "frames=1,2,6", "--shape", "frames=1,3,6"], "gives input 'frames' twice"),
    (["--inputs", "nowhere.npz"], "nowhere.npz: no such file"),
    (["--baseline", "other.tflite"], "--baseline 'other.tflite' is none of the files"),
    (["--exports", "somewhere"], "--exports is for a bundle folder, not model files"),
    (["--no-cloud"], "--no-cloud is for a bundle folder"),
])
def test_usage_mistakes_with_model_files_exit_2_with_one_line(foreign, tmp_path, monkeypatch, capsys, args, message):
    from edgekit.cli.main import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:  # the real entry point, in-process: these fail before any measurement
        main(["bench", str(foreign.dynamic), *args])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exited.value.code == 2 and len(lines) == 1 and message in lines[0], lines


def test_file_options_are_refused_for_a_bundle_and_bundles_do_not_mix_with_files(foreign, tmp_path):
    folder = tmp_path / "bundle"
    folder.mkdir()
    done = edgekit("bench", str(folder), "--shape", "x=1,2")
    assert done.returncode == 2 and "--shape is for model files, not a bundle" in done.stderr
    done = edgekit("bench", str(folder), str(foreign.cnn_fp32))
    assert done.returncode == 2 and "bench takes one bundle, or model files" in done.stderr
    done = edgekit("bench", str(folder))  # today's bundle behaviour: not a bundle
    assert done.returncode == 1 and "not an edgekit bundle" in done.stderr


def test_inputs_npz_names_are_checked_per_file(foreign, tmp_path):
    feeds = tmp_path / "feeds.npz"
    np.savez(feeds, images=foreign.digits_x[:2])
    done = edgekit("bench", str(foreign.cnn_fp32), *TINY, "--inputs", str(feeds))
    assert done.returncode == 1
    assert "failed: cnn_fp32.tflite: --inputs feeds.npz: ['images'] is not an input of the model" in done.stderr
    assert "'images' -> 'image'?" in done.stderr
