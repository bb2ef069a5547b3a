"""Preparation: cleaning, splits, and the two preprocessing implementations agreeing."""

import numpy as np
import pandas as pd
import pytest

from edgekit.train import load_dataset
from edgekit.train.prepare import clean, feature_matrix, features_frame, infer_task, make_preprocessor, network_preprocessing, split
from edgekit.train.schema_infer import build_schema, plan_columns


def test_clean_drops_duplicates_and_rows_without_target():
    frame = pd.DataFrame({"x": [1, 1, 2, 3], "y": [1.0, 1.0, None, 4.0]})
    out, report = clean(frame, "y")
    assert out["x"].tolist() == [1, 3]
    assert (report.duplicates_dropped, report.missing_target_dropped, report.rows_out) == (1, 1, 2)


def test_tutorial_split_is_tensorflows():
    raw = load_dataset("auto-mpg").frame
    frame, _ = clean(raw, "mpg")
    train, test = split(frame, "mpg", "regression", mode="tutorial",
                        columns=[c for c in frame.columns if c not in ("mpg", "car_name")])
    # The tutorial, independently: drop the name, dropna, sample(frac=0.8, random_state=0).
    dataset = raw.drop(columns=["car_name"]).dropna()
    expected_train = dataset.sample(frac=0.8, random_state=0)
    assert train.index.tolist() == expected_train.index.tolist()
    assert sorted(test.index) == sorted(dataset.drop(expected_train.index).index)
    assert (len(train), len(test)) == (314, 78)


def test_random_split_is_stratified_for_classification():
    frame = load_dataset("iris").frame
    train, test = split(frame, "target", "classification", test_size=0.2, seed=3)
    assert test["target"].value_counts().tolist() == [10, 10, 10]
    again, _ = split(frame, "target", "classification", test_size=0.2, seed=3)
    assert again.index.tolist() == train.index.tolist()


@pytest.mark.parametrize("values, task", [([1.5, 2.5, 3.1] * 10, "regression"), (["a", "b"] * 10, "classification"),
                                          ([0, 1] * 20, "classification"), (list(range(40)), "regression")])
def test_task_inference(values, task):
    assert infer_task(pd.Series(values)) == task


def test_network_preprocessing_equals_the_scikit_learn_preprocessor():
    """The Keras graph's preprocessing (numpy spec) and sklearn's ColumnTransformer agree."""
    raw = load_dataset("auto-mpg").frame.copy()
    raw["maker"] = raw.pop("car_name").str.split().str[0]
    frame, _ = clean(raw, "mpg")
    plan = plan_columns(frame, "mpg")
    train, test = split(frame, "mpg", "regression", seed=0)
    schema = build_schema(train, plan)
    sk = make_preprocessor(schema, scale=True).fit(features_frame(train, schema))
    prep = network_preprocessing(feature_matrix(train, schema), schema)
    test = test.copy()
    test.iloc[0, test.columns.get_loc("horsepower")] = np.nan
    ours = prep.apply(feature_matrix(test, schema))
    theirs = sk.transform(features_frame(test, schema))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
