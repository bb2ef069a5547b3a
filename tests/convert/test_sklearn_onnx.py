"""Every scikit-learn candidate family converts to ONNX and matches its source model."""

import numpy as np
import pytest

from edgekit.convert import ConvertOptions, convert
from edgekit.runtime import load
from edgekit.train import TrainConfig, load_bundle, train

FAMILIES = {
    "regression": ["linear", "svm", "rf", "gb", "hgb"],
    "classification": ["linear", "svm", "rf", "gb", "hgb"],
}


def _bundle(tmp_path, data, target, family):
    result = train(data, TrainConfig(target=target, models=(family,), quick=True, cv=2), n_jobs=1, show_progress=False)
    return load_bundle(result.save(tmp_path / f"{family}"))


@pytest.mark.parametrize("family", FAMILIES["regression"])
def test_regressor_family_matches_source(tmp_path, auto_mpg_csv, family):
    bundle = _bundle(tmp_path, auto_mpg_csv, "mpg", family)  # includes a string feature
    report = convert(bundle, tmp_path / "exports", ConvertOptions(quantizations=("fp32",)), show_progress=False)
    assert [r.status for r in report.results] == ["passed"]
    test = bundle.split("test")
    source = bundle.source_model().predict_frame(test)
    exported = load(tmp_path / "exports" / "onnx-fp32" / "model.onnx").predict(test[bundle.card.schema.names]).values
    assert np.max(np.abs(exported - source)) <= 1e-4 * test["mpg"].std() + 1e-5


@pytest.mark.parametrize("family", FAMILIES["classification"])
def test_classifier_family_matches_source_labels_and_probabilities(tmp_path, family):
    bundle = _bundle(tmp_path, "wine", "target", family)
    report = convert(bundle, tmp_path / "exports", ConvertOptions(quantizations=("fp32",)), show_progress=False)
    assert report.passed, report.to_markdown()
    test = bundle.split("test")
    source = bundle.source_model().predict_frame(test)
    prediction = load(tmp_path / "exports" / "onnx-fp32" / "model.onnx").predict(test[bundle.card.schema.names])
    np.testing.assert_allclose(prediction.probabilities, source, atol=1e-4)
    assert [int(v) for v in prediction.values] == [bundle.card.labels[i] for i in np.argmax(source, axis=1)]


def test_quantising_a_tree_ensemble_is_reported_not_faked(mpg_svm, tmp_path):
    report = convert(mpg_svm.bundle, tmp_path / "q", ConvertOptions(quantizations=("fp32", "dynamic", "int8")), show_progress=False)
    statuses = {r.quantization: (r.status, r.reason) for r in report.results}
    assert statuses["fp32"][0] == "passed"
    for quantization in ("dynamic", "int8"):
        status, reason = statuses[quantization]
        assert status == "not_applicable" and "no MatMul/Gemm/Conv" in reason
    assert not (tmp_path / "q" / "onnx-int8").exists()
