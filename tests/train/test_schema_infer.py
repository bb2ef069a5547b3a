import pandas as pd
import pytest

from edgekit.runtime import ConfigError, DataError
from edgekit.train import load_dataset
from edgekit.train.schema_infer import build_schema, plan_columns


def test_auto_mpg_kinds():
    frame = load_dataset("auto-mpg").frame
    plan = plan_columns(frame, "mpg")
    assert plan.kinds["origin"] == ("categorical", "int")  # integer codes 1, 2, 3
    assert plan.kinds["cylinders"] == ("numeric", "int")  # 3..8 with gaps: a count, not a code
    assert plan.kinds["horsepower"] == ("numeric", "float")
    assert "car_name" in plan.dropped and "identifier" in plan.dropped["car_name"]
    assert "mpg" not in plan.kinds


def test_overrides_win():
    frame = load_dataset("auto-mpg").frame
    plan = plan_columns(frame, "mpg", categorical=("cylinders",), numeric=("origin",), drop=("weight",))
    assert plan.kinds["cylinders"][0] == "categorical" and plan.kinds["origin"][0] == "numeric"
    assert plan.dropped["weight"] == "dropped by --drop"


def test_bad_overrides_are_usage_errors():
    frame = load_dataset("auto-mpg").frame
    with pytest.raises(ConfigError, match="unknown column"):
        plan_columns(frame, "mpg", categorical=("colour",))
    with pytest.raises(ConfigError, match="both"):
        plan_columns(frame, "mpg", categorical=("origin",), numeric=("origin",))
    with pytest.raises(ConfigError, match="target"):
        plan_columns(frame, "mpg", drop=("mpg",))
    with pytest.raises(DataError, match="holds text"):
        plan_columns(frame, "mpg", numeric=("car_name",))


def test_entirely_missing_column_is_dropped_and_strings_become_categorical():
    frame = pd.DataFrame({"x": [1.0, 2, 3, 4], "empty": [None] * 4, "colour": ["r", "g", "r", None], "y": [1.0, 2, 3, 4]})
    plan = plan_columns(frame, "y")
    assert plan.dropped == {"empty": "entirely missing"}
    assert plan.kinds["colour"] == ("categorical", "string")
    schema = build_schema(frame, plan)
    assert schema["colour"].categories == ("g", "r")
    assert (schema["x"].min, schema["x"].max) == (1.0, 4.0)


def test_unique_integer_id_column_is_dropped():
    frame = pd.DataFrame({"customer_id": range(100), "x": range(100), "y": [0.5] * 100})
    assert "customer_id" in plan_columns(frame, "y").dropped
