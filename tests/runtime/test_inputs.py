"""Every accepted input form gives the same columns; every bad input names what is wrong."""

import numpy as np
import pytest

from edgekit.runtime import Feature, Schema, SchemaError
from edgekit.runtime.inputs import MISSING_STRING, to_column_feeds, to_columns, to_matrix

SCHEMA = Schema.of([
    Feature("weight", "numeric", "float"),
    Feature("origin", "categorical", "int", categories=(1, 2, 3)),
    Feature("maker", "categorical", "string", categories=("ford", "vw")),
])


class FrameLike:
    """Duck-typed DataFrame: .columns and [name] (the runtime never imports pandas)."""

    def __init__(self, data):
        self.data = data
        self.columns = list(data)

    def __getitem__(self, name):
        return self.data[name]


def test_all_input_forms_agree():
    rows = [{"weight": 3504, "origin": 1, "maker": "ford"}, {"maker": "vw", "origin": 2, "weight": 1835.5}]
    columns = {"maker": ["ford", "vw"], "weight": [3504, 1835.5], "origin": [1, 2]}
    forms = [rows, columns, FrameLike(columns), np.array([[3504, 1, "ford"], [1835.5, 2, "vw"]], dtype=object)]
    results = [to_columns(form, SCHEMA) for form in forms]
    for result in results:
        assert list(result) == SCHEMA.names
        np.testing.assert_array_equal(result["weight"], [3504.0, 1835.5])
        np.testing.assert_array_equal(result["origin"], [1.0, 2.0])
        assert result["maker"].tolist() == ["ford", "vw"]


def test_a_single_row_mapping_of_scalars_is_one_row():
    columns = to_columns({"weight": 2000, "origin": 3, "maker": "vw"}, SCHEMA)
    assert len(columns["weight"]) == 1


def test_unknown_feature_suggests_the_close_name():
    with pytest.raises(SchemaError, match=r"unknown feature 'wieght'.*did you mean 'weight'"):
        to_columns([{"wieght": 1, "origin": 1, "maker": "vw"}], SCHEMA)


def test_missing_feature_is_named():
    with pytest.raises(SchemaError, match=r"missing feature\(s\) \['maker'\]"):
        to_columns({"weight": [1.0], "origin": [1]}, SCHEMA)


def test_non_numeric_value_names_the_feature_and_row():
    with pytest.raises(SchemaError, match=r"'weight' expects numbers; row 1 has 'heavy'"):
        to_columns({"weight": ["1", "heavy"], "origin": [1, 1], "maker": ["vw", "vw"]}, SCHEMA)


def test_infinite_values_are_refused():
    with pytest.raises(SchemaError, match="infinite"):
        to_columns({"weight": [np.inf], "origin": [1], "maker": ["vw"]}, SCHEMA)


def test_array_of_the_wrong_width_is_refused_with_the_schema_order():
    with pytest.raises(SchemaError, match=r"\[n, 3\] in the order \['weight', 'origin', 'maker'\]"):
        to_columns(np.zeros((2, 4)), SCHEMA)


def test_ragged_columns_and_empty_input_are_refused():
    with pytest.raises(SchemaError, match="different lengths"):
        to_columns({"weight": [1, 2], "origin": [1], "maker": ["vw"]}, SCHEMA)
    with pytest.raises(SchemaError, match="no rows"):
        to_columns([], SCHEMA)
    with pytest.raises(SchemaError):
        to_columns("weight=1", SCHEMA)


def test_duplicate_columns_in_a_frame_are_refused():
    frame = FrameLike({"weight": [1], "origin": [1], "maker": ["vw"]})
    frame.columns = ["weight", "weight", "origin", "maker"]
    with pytest.raises(SchemaError, match="duplicate"):
        to_columns(frame, SCHEMA)


def test_missing_values_encode_as_nan_and_empty_string_and_unknowns_as_minus_one():
    columns = to_columns({"weight": [None, "", 5.0], "origin": [np.nan, 2, 9], "maker": [None, "bmw", "vw"]}, SCHEMA)
    assert np.isnan(columns["weight"][:2]).all()
    assert columns["maker"].tolist() == [MISSING_STRING, "bmw", "vw"]
    x = to_matrix(columns, SCHEMA)
    assert x.dtype == np.float32
    assert np.isnan(x[0, 2]) and x[1, 2] == -1.0 and x[2, 2] == 1.0
    assert x[2, 1] == 9.0  # numeric codes pass through; the model one-hots them (unknown -> zeros)
    feeds = to_column_feeds(columns, SCHEMA)
    assert [f.shape for f in feeds] == [(3, 1)] * 3
    assert feeds[0].dtype == np.float32 and feeds[2].dtype == object


def test_numbers_given_for_a_string_feature_become_their_text():
    columns = to_columns({"weight": [1], "origin": [1], "maker": [7.0]}, SCHEMA)
    assert columns["maker"].tolist() == ["7"]


@pytest.mark.parametrize("token", ["NA", "N/A", "null", "NULL", "nan", "None", "<NA>", " "])
def test_the_text_pandas_reads_as_missing_is_missing_at_predict_time_too(token):
    columns = to_columns({"weight": [token], "origin": [1], "maker": [token]}, SCHEMA)
    assert np.isnan(columns["weight"][0]) and columns["maker"][0] == MISSING_STRING
