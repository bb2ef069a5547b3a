"""The parity gate, the report, and every failure path of convert."""

import json
import subprocess
import sys

import pytest

from edgekit.convert import ConvertOptions, convert
from edgekit.runtime import ConfigError, ModelLoadError, read_manifest


def test_one_calibration_row_makes_int8_fail_the_gate(mpg_nn, tmp_path):
    out = tmp_path / "bad"
    done = subprocess.run([sys.executable, "-m", "edgekit", "convert", str(mpg_nn.bundle), "--out", str(out), "--to", "tflite",
                           "--quantize", "int8", "--calibration-rows", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "1 export(s) failed: tflite-int8" in done.stderr and "Traceback" not in done.stderr
    report = json.loads((out / "conversion.json").read_text())
    result = report["results"][0]
    assert result["status"] == "rejected" and "rmse went from" in result["reason"]
    assert not (out / "tflite-int8").exists()
    assert (out / "rejected" / "tflite-int8" / "model.tflite").is_file()
    assert "rmse went from" in (out / "rejected" / "tflite-int8" / "REJECTED.txt").read_text()
    assert "REJECTED" in (out / "conversion.md").read_text()


def test_allow_degraded_exits_zero_but_still_rejects(mpg_nn, tmp_path):
    out = tmp_path / "bad"
    done = subprocess.run([sys.executable, "-m", "edgekit", "convert", str(mpg_nn.bundle), "--out", str(out), "--to", "tflite",
                           "--quantize", "int8", "--calibration-rows", "1", "--allow-degraded"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (out / "rejected" / "tflite-int8").is_dir()


def test_metadata_round_trip_from_the_file_alone(mpg_nn, iris_linear, tmp_path):
    from edgekit.train import load_bundle

    for built in (mpg_nn, iris_linear):
        card = load_bundle(built.bundle).card
        for model in built.exports.glob("*/model.*"):
            alone = tmp_path / f"{built.bundle.parent.name}-{model.parent.name}{model.suffix}"
            alone.write_bytes(model.read_bytes())
            manifest = read_manifest(alone)
            assert manifest.sha256 is None  # nothing but the file itself
            assert manifest.schema == card.schema
            assert manifest.labels == (tuple(card.labels) if card.labels else None)
            assert manifest.task == card.task and manifest.target == card.target


def test_scikit_learn_to_tflite_fails_fast_listing_what_is_supported(mpg_svm, tmp_path):
    with pytest.raises(ConfigError, match="sklearn models export to: onnx"):
        convert(mpg_svm.bundle, tmp_path / "x", ConvertOptions(formats=("tflite",)), show_progress=False)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("options", [dict(formats=("coreml",)), dict(quantizations=("int4",)), dict(calibration_rows=0),
                                     dict(max_degradation=-1), dict(calibration_method="magic"), dict(int8_io="int16")])
def test_bad_options_are_usage_errors(options):
    with pytest.raises(ConfigError):
        ConvertOptions(**options)


def test_existing_output_is_not_overwritten_without_force(mpg_svm, tmp_path):
    out = tmp_path / "exports"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists"):
        convert(mpg_svm.bundle, out, ConvertOptions(quantizations=("fp32",)), show_progress=False)
    assert (out / "keep.txt").read_text() == "mine"
    convert(mpg_svm.bundle, out, ConvertOptions(quantizations=("fp32",)), force=True, show_progress=False)
    assert not (out / "keep.txt").exists() and (out / "onnx-fp32" / "model.onnx").is_file()


def test_not_a_bundle_is_a_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="not a bundle"):
        convert(tmp_path / "missing", tmp_path / "x", show_progress=False)


def test_tflite_runtime_target_disables_per_channel_dense_quantisation(mpg_nn, tmp_path):
    from ai_edge_litert import schema_py_generated as schema

    def fc_weight_scales(path):
        buf = path.read_bytes()
        model = schema.Model.GetRootAsModel(buf, 0)
        graph = model.Subgraphs(0)
        counts = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            if model.OperatorCodes(op.OpcodeIndex()).BuiltinCode() == schema.BuiltinOperator.FULLY_CONNECTED:
                weight = graph.Tensors(op.Inputs(1))
                counts.append(weight.Quantization().ScaleLength())
        return counts

    modern = fc_weight_scales(mpg_nn.export("tflite-dynamic"))
    report = convert(mpg_nn.bundle, tmp_path / "legacy", ConvertOptions(formats=("tflite",), quantizations=("dynamic", "int8"),
                                                                         target_runtime="tflite-runtime-2.14"), show_progress=False)
    assert report.passed
    assert max(modern) > 1  # per-channel by default
    for name in ("tflite-dynamic", "tflite-int8"):
        assert max(fc_weight_scales(tmp_path / "legacy" / name / "model.tflite")) == 1  # per-tensor (0: left float)
    assert read_manifest(tmp_path / "legacy" / "tflite-int8" / "model.tflite").quant["tflite_runtime_2_14_compatible"]


@pytest.mark.slow
def test_digits_network_int8_is_small_and_keeps_accuracy(digits_nn, tmp_path):
    bundle = digits_nn.bundle
    report = convert(bundle, tmp_path / "exports", ConvertOptions(formats=("tflite",), quantizations=("fp32", "int8")),
                     show_progress=False)
    fp32, int8 = report.results
    assert int8.status == "passed"
    # The quantisation's saving is judged on the model itself: both files also carry the
    # same embedded manifest (a feature schema of 64 columns, about 8 KB), which no
    # quantisation can shrink; the whole file is checked with that allowance.
    from edgekit.runtime.tflite_file import inspect_tflite

    def model_bytes(result):
        content = (report_dir / result.path).read_bytes()
        return len(content) - len(inspect_tflite(content).metadata.get("edgekit", b""))

    report_dir = tmp_path / "exports"
    assert model_bytes(int8) <= 0.35 * model_bytes(fp32)
    assert int8.size_bytes <= 0.40 * fp32.size_bytes
    source, exported = int8.parity["source_metric"], int8.parity["export_metric"]  # macro F1
    accuracy = json.loads((bundle / "model_card.json").read_text())["test_metrics"]["accuracy"]
    assert accuracy - exported <= 0.01 + (accuracy - source)
    from edgekit.runtime import load
    import pandas as pd
    test = pd.read_csv(bundle / "data" / "test.csv")
    prediction = load(tmp_path / "exports" / "tflite-int8" / "model.tflite").predict(test.drop(columns=["target"]))
    int8_accuracy = (prediction.values.astype(int) == test["target"].to_numpy()).mean()
    assert accuracy - int8_accuracy <= 0.01


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_onnx_static_int8_with_other_calibration_methods_and_per_channel(mpg_nn, tmp_path, method):
    report = convert(mpg_nn.bundle, tmp_path / method, ConvertOptions(formats=("onnx",), quantizations=("int8",),
                                                                      calibration_method=method, per_channel=True),
                     show_progress=False)
    result = report.results[0]
    assert result.status in ("passed", "rejected")  # the gate decides; either way the file is real
    manifest = read_manifest(tmp_path / method / ("" if result.status == "passed" else "rejected") / "onnx-int8" / "model.onnx")
    assert manifest.quant["calibration_method"] == method and manifest.quant["per_channel"] is True
