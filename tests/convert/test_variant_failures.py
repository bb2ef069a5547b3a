"""One variant that cannot be converted or run becomes a failed row; the others are written."""

import json

import numpy as np

from edgekit.convert import ConvertOptions, convert
from edgekit.runtime import ModelLoadError, load


def test_a_converter_crash_and_an_unloadable_export_are_failed_rows(mpg_nn, tmp_path, monkeypatch):
    import edgekit.convert.api as api
    from edgekit.convert import keras_tflite

    real_load = api.load_export
    converter_cls = type(api.converter_for("keras", "tflite"))
    real_convert = converter_cls.convert

    def crash_on_fp16(self, job, quantization):
        if quantization == "fp16":
            raise RuntimeError("simulated converter crash\nsecond line")
        return real_convert(self, job, quantization)

    def refuse_dynamic(path, **kwargs):
        if "tflite-dynamic" in str(path):
            raise ModelLoadError("model.tflite: the TFLite interpreter refused the model: failed to prepare")
        return real_load(path, **kwargs)

    monkeypatch.setattr(converter_cls, "convert", crash_on_fp16)
    monkeypatch.setattr(api, "load_export", refuse_dynamic)
    out = tmp_path / "exports"
    report = convert(mpg_nn.bundle, out, ConvertOptions(formats=("tflite",)), show_progress=False)
    status = {r.name: (r.status, r.reason) for r in report.results}
    assert status["tflite-fp16"][0] == "failed" and "simulated converter crash" in status["tflite-fp16"][1]
    assert "second line" not in status["tflite-fp16"][1]
    assert status["tflite-dynamic"][0] == "failed" and "failed to prepare" in status["tflite-dynamic"][1]
    assert status["tflite-fp32"][0] == "passed" and status["tflite-int8"][0] == "passed"
    written = json.loads((out / "conversion.json").read_text())
    assert {r["name"]: r["status"] for r in written["results"]} == {k: v[0] for k, v in status.items()}
    assert (out / "rejected" / "tflite-dynamic" / "model.tflite").is_file()
    assert "failed to prepare" in (out / "rejected" / "tflite-dynamic" / "REJECTED.txt").read_text()
    assert "FAILED" in (out / "conversion.md").read_text()
    passed = load(out / "tflite-fp32" / "model.tflite")
    assert np.isfinite(passed.predict_array(np.zeros((1, len(passed.schema)), np.float32))).all()
    assert keras_tflite  # the converter module under test


def test_a_real_unloadable_file_is_a_failed_row_not_an_abort(mpg_nn, tmp_path, monkeypatch):
    """The converter hands back bytes LiteRT refuses (here: a truncated flatbuffer)."""
    import edgekit.convert.api as api

    converter_cls = type(api.converter_for("keras", "tflite"))
    real_convert = converter_cls.convert

    def truncated_int8(self, job, quantization):
        artifact = real_convert(self, job, quantization)
        if quantization != "int8":
            return artifact
        from dataclasses import replace

        return replace(artifact, content=artifact.content[: len(artifact.content) // 2])

    monkeypatch.setattr(converter_cls, "convert", truncated_int8)
    out = tmp_path / "exports"
    report = convert(mpg_nn.bundle, out, ConvertOptions(formats=("tflite",), quantizations=("fp32", "int8")),
                     show_progress=False)
    status = {r.name: r.status for r in report.results}
    assert status == {"tflite-fp32": "passed", "tflite-int8": "failed"}
    assert "unreadable" in report.results[1].reason
    assert (out / "tflite-fp32" / "model.tflite").is_file()
