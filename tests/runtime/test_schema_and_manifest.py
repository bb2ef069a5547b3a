import json

import numpy as np
import pytest

from edgekit.runtime import Feature, Manifest, ModelLoadError, Schema, SchemaError, TabularPreprocessing


def schema():
    return Schema.of([
        Feature("weight", "numeric", "float", min=1600.0, max=5140.0),
        Feature("origin", "categorical", "int", categories=(1, 2, 3)),
        Feature("maker", "categorical", "string", categories=("ford", "vw")),
    ])


def manifest(**changes):
    values = dict(format="tflite", quantization="int8", task="classification", target="kind", schema=schema(),
                  input_layout="matrix", outputs=("probabilities",), labels=("a", "b"),
                  preprocessing=TabularPreprocessing((3000.0, 1.0, 0.0), (0,), (3000.0,), (800.0,),
                                                     ((1, (1.0, 2.0, 3.0)), (2, (0.0, 1.0)))),
                  quant={"input_range": {"weight": [1600.0, 5140.0]}}, source={"framework": "keras"})
    values.update(changes)
    return Manifest(**values)


def test_schema_round_trips_through_json():
    s = schema()
    assert Schema.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert s.names == ["weight", "origin", "maker"]
    assert s.index("maker") == 2 and "origin" in s and "mpg" not in s


@pytest.mark.parametrize("bad", [
    lambda: Schema.of([Feature("a", "numeric", "float"), Feature("a", "numeric", "float")]),
    lambda: Feature("a", "categorical", "int"),
    lambda: Feature("a", "numeric", "string"),
    lambda: Feature("", "numeric", "float"),
    lambda: Feature("a", "ordinal", "float"),
])
def test_invalid_schemas_are_refused(bad):
    with pytest.raises(SchemaError):
        bad()


def test_manifest_round_trip_keeps_everything_and_embedded_form_drops_file_facts():
    m = manifest().with_file_facts(file="model.tflite", sha256="ab" * 32, size_bytes=123, parity={"passed": True})
    again = Manifest.from_json(m.to_json())
    assert again == m
    embedded = json.loads(m.to_json(embedded=True))
    assert not {"sha256", "size_bytes", "parity", "file"} & set(embedded)
    assert Manifest.from_json(m.to_json(embedded=True)).sha256 is None


@pytest.mark.parametrize("changes", [
    {"format": "pt"}, {"quantization": "int4"}, {"task": "ranking"}, {"input_layout": "tensor"},
    {"outputs": ("logits",)}, {"labels": None},
])
def test_invalid_manifests_are_refused(changes):
    with pytest.raises(ModelLoadError):
        manifest(**changes)


def test_newer_manifest_version_asks_for_an_upgrade():
    data = manifest().to_dict()
    data["manifest_version"] = 99
    with pytest.raises(ModelLoadError, match="upgrade edgekit"):
        Manifest.from_dict(data)


def test_garbage_manifest_json_is_a_load_error():
    for text in (b"{", b"[]", b'{"format": "tflite"}'):
        with pytest.raises(ModelLoadError):
            Manifest.from_json(text)


def test_preprocessing_matches_a_hand_computation():
    prep = manifest().preprocessing
    x = np.array([[np.nan, 2, 1], [3800, 5, np.nan]], dtype=np.float32)
    out = prep.apply(x)
    expected = np.array([[0.0, 0, 1, 0, 0, 1], [1.0, 0, 0, 0, 1, 0]], dtype=np.float32)
    np.testing.assert_allclose(out, expected)
    assert prep.n_inputs == 3 and prep.n_outputs == 6


def test_preprocessing_must_cover_every_column_once():
    with pytest.raises(ModelLoadError):
        TabularPreprocessing((0.0, 0.0), (0,), (0.0,), (1.0,))
    with pytest.raises(ModelLoadError):
        TabularPreprocessing((0.0,), (0,), (0.0,), (0.0,))
