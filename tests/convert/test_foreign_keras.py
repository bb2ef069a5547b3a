"""`edgekit convert` on models edgekit did not train: a .keras CNN, a two-input Keras model and
a SavedModel, each export checked against the bare backend and the source framework."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from edgekit.runtime import IntegrityError, TensorManifest, load, read_manifest

pytestmark = pytest.mark.slow

ALL_VARIANTS = ["tflite-fp32", "tflite-fp16", "tflite-dynamic", "tflite-int8", "onnx-fp32", "onnx-dynamic", "onnx-int8"]


def _keras_outputs(path, feeds):
    import keras

    model = keras.saving.load_model(path, safe_mode=True)
    y = model(feeds if len(model.inputs) > 1 else next(iter(feeds.values())), training=False)
    y = y if isinstance(y, dict) else dict(zip(model.output_names, [y]))
    return {k: np.asarray(v) for k, v in y.items()}


def _export_path(folder, row):
    return folder / row["path"]


@pytest.fixture(scope="module")
def cnn(foreign, foreign_extras, ft, tmp_path_factory):
    out = tmp_path_factory.mktemp("cnn") / "cnn-exports"
    done = ft.run("convert", foreign.cnn_keras, "--calibration", foreign.calibration, "--eval", foreign_extras.eval_npz,
                  "--eval-labels", foreign_extras.labels_npy, "--out", out)
    return done, out, ft.conversion(out)


def test_keras_cnn_writes_every_tflite_variant_and_onnx(cnn):
    done, out, rows = cnn
    assert list(rows) == ALL_VARIANTS
    assert all(r["status"] in ("passed", "rejected") for r in rows.values()), {n: r["reason"] for n, r in rows.items()}
    for name, row in rows.items():
        assert _export_path(out, row).is_file() and (_export_path(out, row).parent / "manifest.json").is_file()
        assert (row["status"] == "rejected") == row["path"].startswith("rejected/")
    rejected = [n for n, r in rows.items() if r["status"] == "rejected"]
    assert done.code == (1 if rejected else 0), done.stderr
    assert "exports written to" in done.stdout and "Traceback" not in done.stderr
    markdown = (out / "conversion.md").read_text()
    assert "top-1 agreement >= 98.0%" in markdown and markdown.count("| tflite |") == 4


def test_gate_numbers_are_what_the_bare_backend_gives_on_the_written_files(cnn, foreign, foreign_extras, ft):
    _, out, rows = cnn
    x = foreign.digits_x
    reference = _keras_outputs(foreign.cnn_keras, {"image": x})["scores"]
    for name, row in rows.items():
        got = ft.bare(_export_path(out, row), {"image": x})["scores"]
        expected = ft.metrics(reference, got, foreign.digits_y)
        recorded = row["parity"]["outputs"]["scores"]
        for metric, value in expected.items():
            assert recorded[metric] == pytest.approx(value, abs=2e-6), (name, metric)
        if row["quantization"] == "fp32":
            assert row["status"] == "passed" and expected["max_abs_error"] <= 1e-4 * np.abs(reference).max()
        else:
            assert (row["status"] == "passed") == (expected["top1_agreement"] >= 0.98), name
        assert row["parity"]["rows"] == len(x)


def test_int8_keeps_float_io_and_integer_io_is_an_option(cnn, foreign, ft, tmp_path):
    _, out, rows = cnn
    from ai_edge_litert.interpreter import Interpreter

    detail = Interpreter(model_path=str(_export_path(out, rows["tflite-int8"]))).get_signature_runner().get_input_details()
    assert np.dtype(detail["image"]["dtype"]) == np.float32
    done = ft.run("convert", foreign.cnn_keras, "--calibration", foreign.calibration, "--to", "tflite", "--quantize", "int8",
                  "--int8-io", "uint8", "--out", tmp_path / "u8", "--allow-degraded")
    assert done.code == 0, done.stderr
    row = ft.conversion(tmp_path / "u8")["tflite-int8"]
    runner = Interpreter(model_path=str(tmp_path / "u8" / row["path"])).get_signature_runner()
    assert np.dtype(runner.get_input_details()["image"]["dtype"]) == np.uint8
    assert np.dtype(runner.get_output_details()["scores"]["dtype"]) == np.uint8
    # Gated after dequantisation: the recorded agreement is the bare backend's on dequantised outputs.
    calibration = np.load(foreign.calibration)["image"]
    reference = _keras_outputs(foreign.cnn_keras, {"image": calibration})["scores"]
    got = ft.bare(tmp_path / "u8" / row["path"], {"image": calibration})["scores"]
    assert row["parity"]["outputs"]["scores"]["top1_agreement"] == pytest.approx(ft.metrics(reference, got)["top1_agreement"])


def test_every_export_carries_a_tensor_manifest_and_load_verifies_its_sidecar(cnn, foreign, tmp_path):
    _, out, rows = cnn
    source_sha = hashlib.sha256(foreign.cnn_keras.read_bytes()).hexdigest()
    for name, row in rows.items():
        path = _export_path(out, row)
        manifest = read_manifest(path)
        assert isinstance(manifest, TensorManifest) and manifest.kind == "tensor"
        assert manifest.quantization == row["quantization"] and manifest.format == row["format"]
        assert manifest.source["sha256"] == source_sha and manifest.source["framework"] == "keras"
        assert manifest.source["file"] == "cnn.keras"
        assert manifest.gate == row["parity"]
        model = load(path)
        assert model.verified and model.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
        assert [s.to_dict() for s in manifest.inputs] == [s.to_dict() for s in model.inputs]
        assert [s.name for s in manifest.outputs] == ["scores"]
        alone = tmp_path / f"{name}{path.suffix}"  # the file without its sidecar still describes itself
        alone.write_bytes(path.read_bytes())
        assert read_manifest(alone).gate == row["parity"] and read_manifest(alone).sha256 is None
        corrupt = bytearray(path.read_bytes())
        corrupt[len(corrupt) // 2] ^= 0xFF
        copy = tmp_path / name
        copy.mkdir()
        (copy / path.name).write_bytes(bytes(corrupt))
        (copy / "manifest.json").write_bytes((path.parent / "manifest.json").read_bytes())
        with pytest.raises(IntegrityError):
            load(copy / path.name)


def test_int8_tflite_of_a_weight_heavy_cnn_is_under_30_percent_of_float32(foreign, foreign_extras, ft, tmp_path):
    out = tmp_path / "wide"
    done = ft.run("convert", foreign_extras.wide_cnn_keras, "--calibration", foreign.calibration, "--eval",
                  foreign_extras.eval_npz, "--to", "tflite", "--quantize", "fp32,int8", "--out", out)
    rows = ft.conversion(out)
    assert done.code == 0, done.stderr
    fp32, int8 = (_export_path(out, rows[n]).stat().st_size for n in ("tflite-fp32", "tflite-int8"))
    assert int8 <= 0.30 * fp32, (int8, fp32)
    assert rows["tflite-int8"]["size_vs_fp32"] == pytest.approx(int8 / fp32)


def test_two_input_two_output_keras_model_converts(foreign, foreign_extras, ft, tmp_path):
    out = tmp_path / "two"
    done = ft.run("convert", foreign.two_io_keras, "--calibration", foreign_extras.two_io_calibration, "--out", out,
                  "--allow-degraded")
    assert done.code == 0, done.stderr
    rows = ft.conversion(out)
    assert list(rows) == ALL_VARIANTS and all(r["status"] in ("passed", "rejected") for r in rows.values())
    data = np.load(foreign_extras.two_io_calibration)
    feeds = {"a": data["a"], "b": data["b"]}
    reference = _keras_outputs(foreign.two_io_keras, feeds)
    for name in ("tflite-fp32", "onnx-fp32"):
        row = rows[name]
        assert row["status"] == "passed"
        got = ft.bare(out / row["path"], feeds)
        for output in ("total", "parts"):
            np.testing.assert_allclose(got[output], reference[output], atol=1e-5)
            assert row["parity"]["outputs"][output]["max_abs_error"] == pytest.approx(
                ft.metrics(reference[output], got[output])["max_abs_error"], abs=2e-6)
    # "total" [?,1] is not class scores: cosine gates it; "parts" [?,2] is, by shape.
    gate = rows["tflite-int8"]["parity"]["outputs"]
    assert gate["total"]["top1_agreement"] is None and gate["total"]["cosine"] is not None
    assert gate["parts"]["top1_agreement"] is not None


def test_savedmodel_folder_of_a_tf_module_converts_without_nan(foreign, foreign_extras, ft, tmp_path):
    import tensorflow as tf

    out = tmp_path / "sm"
    done = ft.run("convert", foreign_extras.module_saved_model, "--quantize", "fp32", "--eval", foreign_extras.eval_npz,
                  "--out", out)
    assert done.code == 0, done.stderr
    rows = ft.conversion(out)
    signature = tf.saved_model.load(str(foreign_extras.module_saved_model)).signatures["serving_default"]
    reference = signature(image=tf.constant(foreign.digits_x))["scores"].numpy()
    for name in ("tflite-fp32", "onnx-fp32"):
        got = ft.bare(out / rows[name]["path"], {"image": foreign.digits_x})["scores"]
        np.testing.assert_allclose(got, reference, atol=1e-5)
        assert read_manifest(out / rows[name]["path"]).source["framework"] == "tensorflow"
