"""What `edgekit convert` refuses for foreign models: a clear line, the right exit code, and
nothing written (or, for one variant, a row saying why while the others still write)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_calibration_with_mismatched_names_is_refused_naming_them(foreign, ft, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, img=np.load(foreign.calibration)["image"])
    out = tmp_path / "out"
    done = ft.run("convert", foreign.cnn_keras, "--calibration", bad, "--out", out)
    assert done.code == 2
    line, = done.stderr.strip().splitlines()
    assert "['img']" in line and "'image'" in line and "[?, 8, 8, 1]" in line
    assert not out.exists()


def test_calibration_with_a_wrong_shape_is_refused(foreign, ft, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, image=np.zeros((4, 8, 8), np.float32))
    done = ft.run("convert", foreign.cnn_keras, "--calibration", bad, "--out", tmp_path / "out")
    assert done.code == 2 and "got shape [4, 8, 8]" in done.stderr and not (tmp_path / "out").exists()


def test_static_int8_without_calibration_is_refused_with_the_how_to_while_the_rest_write(foreign, foreign_extras, ft, tmp_path):
    out = tmp_path / "default"
    done = ft.run("convert", foreign.cnn_keras, "--to", "tflite", "--eval", foreign_extras.eval_npz, "--out", out)
    rows = ft.conversion(out)
    assert done.code == 0, done.stderr
    assert rows["tflite-int8"]["status"] == "not_applicable" and not (out / "tflite-int8").exists()
    assert "--calibration FILE.npz" in rows["tflite-int8"]["reason"] and "image=" in rows["tflite-int8"]["reason"]
    assert "--calibration FILE.npz" in done.stdout
    for name in ("tflite-fp32", "tflite-dynamic"):
        assert rows[name]["status"] == "passed" and (out / rows[name]["path"]).is_file()
    # Asked for by name, the refusal is a failed row and the exit code says so.
    explicit = tmp_path / "explicit"
    done = ft.run("convert", foreign.cnn_keras, "--to", "tflite", "--quantize", "fp32,int8", "--out", explicit)
    assert done.code == 1 and "1 export(s) failed: tflite-int8" in done.stderr
    rows = ft.conversion(explicit)
    assert rows["tflite-int8"]["status"] == "failed" and rows["tflite-fp32"]["status"] == "passed"


def test_keras_file_with_a_lambda_layer_is_refused(foreign_extras, ft, tmp_path):
    out = tmp_path / "out"
    done = ft.run("convert", foreign_extras.lambda_keras, "--out", out)
    assert done.code == 1
    line, = done.stderr.strip().splitlines()
    assert "Lambda layer" in line and "safe_mode" in line
    assert not out.exists()


def test_savedmodel_without_a_signature_is_refused(foreign_extras, ft, tmp_path):
    out = tmp_path / "out"
    done = ft.run("convert", foreign_extras.no_signature, "--out", out)
    assert done.code == 1 and "no serving signature" in done.stderr and not out.exists()


@pytest.mark.parametrize("args, code, message", [
    (["--eval-labels", "LABELS_SHORT"], 2, "5 labels for 397 eval rows"),
    (["--to", "coreml"], 2, "unknown value(s) ['coreml']"),
    (["--quantize", "int4"], 2, "unknown value(s) ['int4']"),
])
def test_bad_gate_inputs_and_options_are_usage_errors(foreign, foreign_extras, ft, tmp_path, args, code, message):
    np.save(tmp_path / "short.npy", np.zeros(5, np.int64))
    args = [str(tmp_path / "short.npy") if a == "LABELS_SHORT" else a for a in args]
    done = ft.run("convert", foreign.cnn_keras, "--eval", foreign_extras.eval_npz, *args, "--out", tmp_path / "out")
    assert done.code == code and message in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_onnx_source_cannot_be_exported_to_tflite(foreign_extras, ft, tmp_path):
    done = ft.run("convert", foreign_extras.cnn_onnx, "--to", "tflite", "--out", tmp_path / "out")
    assert done.code == 2 and "cannot be exported to tflite" in done.stderr and not (tmp_path / "out").exists()


def test_foreign_only_options_on_a_bundle_are_usage_errors(foreign, ft, tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model_card.json").write_text("{}")
    done = ft.run("convert", bundle, "--calibration", foreign.calibration)
    assert done.code == 2 and "only for foreign models" in done.stderr and not (bundle / "exports").exists()


def test_existing_output_folder_needs_force(foreign, ft, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    done = ft.run("convert", foreign.cnn_keras, "--out", out)
    assert done.code == 2 and "already exists" in done.stderr


def test_a_variant_that_cannot_be_made_is_a_failed_row_and_the_others_still_write(foreign, ft, tmp_path):
    out = tmp_path / "out"
    done = ft.run("convert", foreign.cnn_fp32, "--calibration", foreign.calibration, "--int8-io", "uint8", "--out", out)
    assert done.code == 1 and "1 export(s) failed: tflite-int8" in done.stderr
    rows = ft.conversion(out)
    assert rows["tflite-int8"]["status"] == "failed" and "--int8-io uint8" in rows["tflite-int8"]["reason"]
    assert not (out / "tflite-int8").exists() and not (out / "rejected" / "tflite-int8").exists()
    assert rows["tflite-dynamic"]["status"] == "passed" and (out / rows["tflite-dynamic"]["path"]).is_file()


def test_default_output_folder_is_beside_the_source(foreign_extras, ft, tmp_path):
    source = tmp_path / "cnn.onnx"
    source.write_bytes(foreign_extras.cnn_onnx.read_bytes())
    done = ft.run("convert", source, "--quantize", "dynamic", "--eval", foreign_extras.eval_npz)
    assert done.code == 0, done.stderr
    assert (tmp_path / "cnn-exports" / "onnx-dynamic" / "model.onnx").is_file()
