"""The serving fast path (pipelines replayed on numpy) against the plain scikit-learn pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edgekit.runtime.inputs import to_columns
from edgekit.train.candidates import _forest, _hist_boosting, _linear, _svm
from edgekit.train.fast_pipeline import compile_pipeline
from edgekit.train.prepare import features_frame
from edgekit.train.schema_infer import build_schema, plan_columns
from edgekit.train.source import SourceModel


def plain(model, columns, schema, task):
    """The reference: sklearn's own Pipeline on the DataFrame that training used."""
    frame = features_frame(pd.DataFrame({n: columns[n] for n in schema.names}), schema)
    y = model.predict(frame) if task == "regression" else model.predict_proba(frame)
    return np.asarray(y, dtype=np.float64)


def mixed_frame(n: int, seed: int) -> pd.DataFrame:
    """Scales from 1e-3 to 4e3, missing values everywhere, integer codes, a text category."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "tiny": rng.normal(0, 1e-3, n),
        "huge": rng.lognormal(7, 1, n),
        "count": rng.integers(0, 40, n).astype(float),
        "code": rng.choice([1.0, 2.0, 3.0, 7.0], n),
        "colour": rng.choice(["red", "green", "blue", "teal"], n).astype(object),
    })
    for column in frame.columns:
        frame.loc[rng.random(n) < 0.08, column] = np.nan if column != "colour" else None
    signal = frame["huge"].fillna(1000) / 1000 + (frame["colour"] == "red") * 2 + frame["count"].fillna(0) / 10
    frame["y"] = signal + rng.normal(0, 0.3, n)
    return frame


def fitted(frame: pd.DataFrame, task: str, make, impute: str, **params):
    plan = plan_columns(frame, "y", categorical=("code", "colour"))
    schema = build_schema(frame, plan)
    y = frame["y"]
    if task == "binary":
        y = (y > y.median()).astype(int)
    elif task == "multiclass":
        y = pd.qcut(y, 3, labels=False)
    model = make("regression" if task == "regression" else "classification", schema, 0, impute).set_params(**params)
    model.fit(features_frame(frame, schema), y)
    return model, schema


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
@pytest.mark.parametrize("make, impute, params", [
    (_linear, "median", {}), (_svm, "mean", {}), (_forest, "most_frequent", {"model__n_estimators": 20}),
    (_hist_boosting, "median", {"model__max_iter": 15}),  # few trees: the path, not the model, is under test
])
def test_fast_path_equals_the_pipeline_on_a_generated_mixed_type_set(task, make, impute, params):
    model, schema = fitted(mixed_frame(240, seed=1), task, make, impute, **params)
    fast = compile_pipeline(model, schema, "regression" if task == "regression" else "classification")
    assert fast is not None
    unseen = mixed_frame(150, seed=2)
    unseen.loc[:9, "colour"] = "purple"  # unknown category: one-hot of zeros in both paths
    unseen.loc[10:14, "code"] = 5.0  # unknown integer code
    columns = to_columns(unseen[schema.names], schema)
    reference = plain(model, columns, schema, "regression" if task == "regression" else "classification")
    np.testing.assert_allclose(fast(columns), reference, rtol=0, atol=1e-9)
    for i in (0, 12, 40):  # one row, as a server calls it
        one = {n: c[i:i + 1] for n, c in columns.items()}
        np.testing.assert_allclose(fast(one), reference[i:i + 1], rtol=0, atol=1e-9)


def test_serving_path_of_the_auto_mpg_bundle_equals_its_pipeline(mpg_svm):
    from edgekit.train import load_bundle

    bundle = load_bundle(mpg_svm.bundle)
    source = bundle.source_model()
    predict = source.serving_predict()
    assert getattr(predict, "compiled", False), "the Auto MPG pipeline should take the numpy path"
    frame = pd.concat([bundle.split("train"), bundle.split("test")])
    columns = to_columns(frame[source.schema.names], source.schema)
    reference = plain(bundle.model, columns, source.schema, "regression")
    np.testing.assert_allclose(predict(columns), reference, rtol=0, atol=1e-9)
    np.testing.assert_allclose(source.predict_columns(columns), reference, rtol=0, atol=1e-9)


def test_steps_it_does_not_replay_keep_the_plain_pipeline():
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline

    frame = mixed_frame(120, seed=3)
    model, schema = fitted(frame, "regression", _linear, "median")
    odd = Pipeline([("prepare", model.steps[0][1]), ("pca", PCA(2)), ("model", model.steps[-1][1])])
    odd.fit(features_frame(frame, schema), frame["y"])
    assert compile_pipeline(odd, schema, "regression") is None
    source = SourceModel(odd, framework="sklearn", task="regression", schema=schema, labels=None)
    columns = to_columns(frame[schema.names], schema)
    np.testing.assert_array_equal(source.serving_predict()(columns), plain(odd, columns, schema, "regression"))


def test_an_input_sklearn_refuses_is_refused_with_sklearns_own_error():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = mixed_frame(120, seed=4)
    model, schema = fitted(frame, "regression", _linear, "median")
    strict = Pipeline([("prepare", ColumnTransformer([("c", OneHotEncoder(handle_unknown="error", sparse_output=False),
                                                       ["colour"])])), ("model", Ridge())])
    known = frame[frame["colour"].notna()]
    strict.fit(features_frame(known, schema), known["y"])
    source = SourceModel(strict, framework="sklearn", task="regression", schema=schema, labels=None)
    predict = source.serving_predict()
    assert getattr(predict, "compiled", False)
    row = known.iloc[:1].copy()
    row["colour"] = "purple"
    columns = to_columns(row[schema.names], schema)
    with pytest.raises(ValueError, match="unknown categor"):
        plain(strict, columns, schema, "regression")
    with pytest.raises(ValueError, match="unknown categor"):
        predict(columns)
