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


def _nonlinear(n, seed):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.uniform(-2, 2, size=(n, 4)).astype(np.float32), columns=list("abcd"))
    y = 2 * np.sin(2 * x["a"]) + x["b"] ** 2 - 0.5 * x["c"] + rng.normal(0, 0.1, n)
    return x, y.to_numpy()


SCHEMA4 = Schema.of([Feature(c, "numeric", "float") for c in "abcd"])


def test_regressor_beats_a_linear_baseline_on_a_nonlinear_target():
    from sklearn.linear_model import RidgeCV

    (x, y), (x_test, y_test) = _nonlinear(400, 0), _nonlinear(200, 1)
    net = KerasTabularRegressor(schema=SCHEMA4).fit(x, y)
    ridge = RidgeCV().fit(x, y)

    def rmse(p):
        return float(np.sqrt(np.mean((p - y_test) ** 2)))

    assert rmse(net.predict(x_test)) < 0.35 * rmse(ridge.predict(x_test))


def test_classifier_learns_xor_which_logistic_regression_cannot():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.uniform(-1, 1, size=(600, 2)).astype(np.float32), columns=["a", "b"])
    y = ((x["a"] > 0) ^ (x["b"] > 0)).astype(int).to_numpy()
    schema = Schema.of([Feature("a", "numeric", "float"), Feature("b", "numeric", "float")])
    net = KerasTabularClassifier(schema=schema, hidden=(32, 32)).fit(x[:400], y[:400])
    logistic = LogisticRegression().fit(x[:400], y[:400])
    assert np.mean(net.predict(x[400:]) == y[400:]) > 0.9
    assert np.mean(logistic.predict(x[400:]) == y[400:]) < 0.7


def test_folds_reuse_one_traced_core_and_a_refit_repeats_itself_exactly():
    from edgekit.train import keras_fit

    keras_fit._CACHE.clear()
    x, y = _nonlinear(300, 2)
    first = KerasTabularRegressor(schema=SCHEMA4, hidden=(16,)).fit(x[:200], y[:200])
    (core,) = keras_fit._CACHE.values()
    traced = core.model.train_function
    KerasTabularRegressor(schema=SCHEMA4, hidden=(16,), l2=3.0, learning_rate=3e-3).fit(x[100:], y[100:])
    again = KerasTabularRegressor(schema=SCHEMA4, hidden=(16,)).fit(x[:200], y[:200])
    assert list(keras_fit._CACHE.values()) == [core] and core.model.train_function is traced
    np.testing.assert_array_equal(first.predict(x), again.predict(x))


def test_the_saved_network_computes_what_the_core_learnt_on_standardised_inputs():
    """Training standardises every column (one-hot indicators too); the saved network folds
    that into its first layer, so it must equal the core on standardised inputs."""
    from edgekit.train import keras_fit
    from edgekit.train.prepare import feature_matrix, network_preprocessing

    rng = np.random.default_rng(4)
    x = pd.DataFrame({"a": rng.normal(50, 10, 200).astype(np.float32), "kind": rng.choice([1.0, 2.0, 3.0], 200, p=[0.7, 0.2, 0.1])})
    y = x["a"] / 10 + (x["kind"] == 3) * 4 + rng.normal(0, 0.1, 200)
    schema = Schema.of([Feature("a", "numeric", "float"), Feature("kind", "categorical", "int", categories=(1, 2, 3))])
    keras_fit._CACHE.clear()
    net = KerasTabularRegressor(schema=schema, hidden=(8,)).fit(x, y)
    (core,) = keras_fit._CACHE.values()
    z = network_preprocessing(feature_matrix(x, schema), schema).apply(feature_matrix(x, schema))
    spread = z.std(axis=0)
    standardised = (z - np.where(spread > 0, z.mean(axis=0), 0)) / np.where(spread > 0, spread, 1)
    layer = net.model_.get_layer("target_scale")
    expected = np.asarray(core.model(standardised.astype(np.float32))).reshape(-1) * layer.std + layer.mean
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-4, atol=1e-4)


def test_early_stopping_on_a_held_out_part_ends_before_the_budget():
    x, y = _nonlinear(300, 5)
    net = KerasTabularRegressor(schema=SCHEMA4, hidden=(16,), epochs=400, patience=5, validation_split=0.25).fit(x, y)
    assert net.best_epoch_ <= net.epochs_run_ < 400
