import json
import subprocess
import sys


def edgekit(*args):
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, timeout=300)


def test_info_on_an_export_bundle_and_exports_folder(mpg_nn):
    export = edgekit("info", str(mpg_nn.export("tflite-int8")))
    assert export.returncode == 0 and "tflite / int8" in export.stdout and "parity: rmse" in export.stdout
    as_json = json.loads(edgekit("info", str(mpg_nn.export("onnx-fp32")), "--json").stdout)
    assert as_json["format"] == "onnx" and len(as_json["sha256"]) == 64
    bundle = edgekit("info", str(mpg_nn.bundle))
    assert bundle.returncode == 0 and "winner nn" in bundle.stdout
    folder = edgekit("info", str(mpg_nn.exports))
    assert "Conversion report" in folder.stdout


def test_info_on_garbage_is_one_line(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x01garbage")
    done = edgekit("info", str(junk))
    assert done.returncode == 1 and "not a valid ONNX model" in done.stderr and "Traceback" not in done.stderr
