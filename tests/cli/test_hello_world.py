"""The course's hello world: y = 2x - 1 learnt by a network, exported, predicted on-device."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello_linear.csv"


def edgekit(*args, cwd):
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.mark.slow
def test_hello_linear_predicts_19_at_10(tmp_path):
    assert EXAMPLE.read_text().splitlines()[1:] == ["-1,-3", "0,-1", "1,1", "2,3", "3,5", "4,7"]
    trained = edgekit("train", str(EXAMPLE), "--target", "y", "--models", "nn", "--quick", "--out", "hello", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    converted = edgekit("convert", "hello", "--quantize", "fp32,fp16", cwd=tmp_path)
    assert converted.returncode == 0, converted.stderr
    for name in ("tflite-fp32", "tflite-fp16", "onnx-fp32"):
        model = next((tmp_path / "hello" / "exports" / name).glob("model.*"))
        done = edgekit("predict", str(model), "--json", '{"x": 10}', cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert abs(json.loads(done.stdout)["prediction"] - 19) < 0.5
