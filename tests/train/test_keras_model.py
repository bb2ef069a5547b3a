"""The Keras preprocessing layer computes exactly what the runtime's numpy spec computes."""

import numpy as np
import pandas as pd

from edgekit.runtime import Feature, Schema, TabularPreprocessing
from edgekit.train.keras_model import KerasTabularClassifier, KerasTabularRegressor, _layers


def test_preprocessing_layer_matches_numpy_including_nan_and_unknown_categories():
    prep = TabularPreprocessing(fill=(2.0, 1.0, 0.0), numeric=(0,), mean=(3.0,), scale=(2.0,),
                                categorical=((1, (1.0, 2.0, 3.0)), (2, (0.0, 1.0))))
    layer = _layers()[0](prep.to_dict())
    x = np.array([[np.nan, 2, 1], [7, 9, np.nan], [3, np.nan, -1]], dtype=np.float32)
    np.testing.assert_allclose(np.asarray(layer(x)), prep.apply(x), rtol=1e-6)


def test_regressor_fits_a_line_and_extrapolates():
    schema = Schema.of([Feature("x", "numeric", "float")])
    x = pd.DataFrame({"x": np.linspace(-1, 4, 30)})
    model = KerasTabularRegressor(schema=schema, hidden=(), learning_rate=0.05, epochs=200).fit(x, 2 * x["x"] - 1)
    assert abs(model.predict(pd.DataFrame({"x": [10.0]}))[0] - 19) < 0.5
    assert model.epochs_run_ >= 1 and model.fit_seconds_ > 0


def test_classifier_probabilities_sum_to_one():
    schema = Schema.of([Feature("a", "numeric", "float"), Feature("b", "numeric", "float")])
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    y = (x["a"] > 0).astype(int).to_numpy()
    model = KerasTabularClassifier(schema=schema, hidden=(8,), epochs=30).fit(x, y)
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(model.predict(x)) <= {0, 1}
