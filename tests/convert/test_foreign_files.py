"""A float .onnx through onnxruntime quantisation and a float .tflite through ai-edge-quantizer,
each export's recorded gate reproduced with the bare backend on the source and the written file."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.runtime import load, read_manifest

pytestmark = pytest.mark.slow


def _convert(ft, source, foreign, foreign_extras, out):
    done = ft.run("convert", source, "--calibration", foreign.calibration, "--eval", foreign_extras.eval_npz,
                  "--out", out, "--allow-degraded")
    assert done.code == 0, done.stderr
    return ft.conversion(out)


def _check_rows_against_bare_backend(ft, source, out, rows, x):
    reference = next(iter(ft.bare(source, {"image": x}, 256).values()))
    for name, row in rows.items():
        (output, recorded), = row["parity"]["outputs"].items()
        got = ft.bare(out / row["path"], {"image": x}, row["parity"]["batch"])[output]
        expected = ft.metrics(reference, got)
        for metric, value in expected.items():
            assert recorded[metric] == pytest.approx(value, abs=2e-6), (name, metric)
        assert (row["status"] == "passed") == (expected["top1_agreement"] >= 0.98), name
        assert load(out / row["path"]).verified


def test_float_onnx_cnn_quantised_dynamically_and_statically_reports_its_agreement(foreign, foreign_extras, ft, tmp_path):
    import onnx

    out = tmp_path / "onnx"
    rows = _convert(ft, foreign_extras.cnn_onnx, foreign, foreign_extras, out)
    assert list(rows) == ["onnx-dynamic", "onnx-int8"]
    ops = {n.op_type for n in onnx.load(str(out / rows["onnx-int8"]["path"])).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # static QDQ
    assert "DynamicQuantizeLinear" in {n.op_type for n in onnx.load(str(out / rows["onnx-dynamic"]["path"])).graph.node}
    assert rows["onnx-int8"]["parity"]["outputs"]["scores"]["top1_agreement"] is not None
    _check_rows_against_bare_backend(ft, foreign_extras.cnn_onnx, out, rows, foreign.digits_x)
    manifest = read_manifest(out / rows["onnx-int8"]["path"])
    assert manifest.source["framework"] == "onnx" and manifest.quant["format"] == "QDQ"
    assert manifest.quant["calibration_rows"] == len(np.load(foreign.calibration)["image"])


def test_float_tflite_goes_through_ai_edge_quantizer(foreign, foreign_extras, ft, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    out = tmp_path / "tflite"
    rows = _convert(ft, foreign.cnn_fp32, foreign, foreign_extras, out)
    assert list(rows) == ["tflite-dynamic", "tflite-int8"]
    for name, row in rows.items():
        manifest = read_manifest(out / row["path"])
        assert "ai-edge-quantizer" in manifest.tools and manifest.quant["tool"] == "ai-edge-quantizer"
        assert row["size_bytes"] < foreign.cnn_fp32.stat().st_size + 4096  # smaller weights, plus the manifest
    runner = Interpreter(model_path=str(out / rows["tflite-int8"]["path"])).get_signature_runner()
    (detail,) = runner.get_input_details().values()
    assert np.dtype(detail["dtype"]) == np.int8  # the static recipe quantises the I/O too; the gate fed floats
    assert rows["tflite-dynamic"]["status"] == "passed"
    _check_rows_against_bare_backend(ft, foreign.cnn_fp32, out, rows, foreign.digits_x)
