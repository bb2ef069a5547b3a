"""The Keras candidate: an MLP whose graph starts with the tabular preprocessing.

:class:`KerasTabular` is a scikit-learn estimator (``get_params``/``fit``/``predict``), so
the network takes part in the same search and cross-validation as every other
candidate, and each fold fits its own preprocessing on its own training rows.
(scikeras would do the wrapping, but its last release predates Keras 3.15 and it warns on
every retrace; this small wrapper owns exactly what edgekit needs.)
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from edgekit.runtime.errors import ConfigError
from edgekit.runtime.preprocessing import TabularPreprocessing
from edgekit.runtime.schema import Schema

PREPROCESS_LAYER = "edgekit_preprocess"


def _keras():
    from edgekit.train.tf_env import import_keras

    return import_keras()


def custom_objects() -> dict:
    """The layer classes a saved edgekit network needs; nothing else is deserialised."""
    layers = _layers()
    return {"edgekit>TabularPreprocess": layers[0], "edgekit>TargetScale": layers[1]}


_LAYERS: tuple | None = None


def _layers():
    global _LAYERS
    if _LAYERS is not None:
        return _LAYERS
    keras = _keras()
    from keras import ops

    @keras.saving.register_keras_serializable(package="edgekit")
    class TabularPreprocess(keras.layers.Layer):
        """Impute NaN, standardise numerics and one-hot categoricals, from a spec dict."""

        def __init__(self, spec: dict, **kwargs):
            super().__init__(**kwargs)
            self.spec = TabularPreprocessing.from_dict(spec).to_dict()
            prep = TabularPreprocessing.from_dict(spec)
            self._fill = np.asarray(prep.fill, np.float32)
            self._numeric = list(prep.numeric)
            self._mean = np.asarray(prep.mean, np.float32)
            self._scale = np.asarray(prep.scale, np.float32)
            self._categorical = [(i, np.asarray(v, np.float32)) for i, v in prep.categorical]

        def call(self, x):
            # x != x is the NaN test that lowers to builtin ops in TFLite and ONNX.
            x = ops.where(ops.not_equal(x, x), self._fill, x)
            parts = [(ops.take(x, self._numeric, axis=1) - self._mean) / self._scale] if self._numeric else []
            for column, values in self._categorical:
                parts.append(ops.cast(ops.equal(ops.take(x, [column], axis=1), values), "float32"))
            return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=1)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], TabularPreprocessing.from_dict(self.spec).n_outputs)

        def get_config(self):
            return {**super().get_config(), "spec": self.spec}

    @keras.saving.register_keras_serializable(package="edgekit")
    class TargetScale(keras.layers.Layer):
        """Undo the target standardisation inside the graph: y * std + mean."""

        def __init__(self, mean: float, std: float, **kwargs):
            super().__init__(**kwargs)
            self.mean = float(mean)
            self.std = float(std)

        def call(self, y):
            return y * self.std + self.mean

        def get_config(self):
            return {**super().get_config(), "mean": self.mean, "std": self.std}

    _LAYERS = (TabularPreprocess, TargetScale)
    return _LAYERS


def build_network(prep: TabularPreprocessing, spec, *, weights=None, target_mean: float = 0.0, target_std: float = 1.0):
    """The exportable network: input ``x`` -> preprocessing layer -> dense core -> output.

    ``spec`` is the core's :class:`~edgekit.train.keras_fit.CoreSpec`; ``weights`` (from
    :func:`~edgekit.train.keras_fit.fit_core`) are copied into the core's layers."""
    from edgekit.train.keras_fit import dense_stack

    keras = _keras()
    preprocess, target_scale = _layers()
    inputs = keras.Input((prep.n_inputs,), name="x")
    y = dense_stack(keras, preprocess(prep.to_dict(), name=PREPROCESS_LAYER)(inputs), spec)
    if spec.task == "regression":
        y = target_scale(target_mean, target_std, name="target_scale")(y)
    model = keras.Model(inputs, y, name="edgekit_mlp")
    if weights is not None:
        model.set_weights(weights)
    return model


class KerasTabular(BaseEstimator):
    """Shared fitting logic; use :class:`KerasTabularRegressor` or ``...Classifier``.

    By default the network trains for ``epochs`` passes over every row given to ``fit``
    with ``l2`` regularisation and a moving average of its weights (regression with the
    ``loss`` given, classification with cross-entropy). With ``validation_split`` > 0 it
    stops early instead, on the loss of a seeded hold-out of those rows (``patience``
    passes without improvement), so inside a fold it never sees the fold's test rows."""

    _task = "regression"

    def __init__(
        self,
        schema: Schema | None = None,
        hidden: tuple[int, ...] = (64, 64),
        dropout: float = 0.0,
        learning_rate: float = 1e-3,
        l2: float = 1.0,
        loss: str = "mae",
        epochs: int = 100,
        batch_size: int = 32,
        patience: int = 20,
        validation_split: float = 0.0,
        impute: str = "median",
        random_state: int = 0,
    ):
        self.schema = schema
        self.hidden = hidden
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.l2 = l2
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_split = validation_split
        self.impute = impute
        self.random_state = random_state

    def _matrix(self, X) -> np.ndarray:
        from edgekit.train.prepare import feature_matrix

        if isinstance(X, pd.DataFrame):
            return feature_matrix(X, self.schema)
        return np.asarray(X, dtype=np.float32)

    def fit(self, X, y):
        from edgekit.train.keras_fit import CoreSpec, fit_core
        from edgekit.train.prepare import network_preprocessing

        x = self._matrix(X)
        y = np.asarray(y)
        prep = network_preprocessing(x, self.schema, self.impute)
        if self._task == "regression":
            target = y.astype(np.float32)
            scale = {"target_mean": float(target.mean()), "target_std": float(target.std() or 1.0)}
            target = (target - scale["target_mean"]) / scale["target_std"]
            n_outputs = 1
        else:
            self.classes_ = np.unique(y)
            target = np.searchsorted(self.classes_, y).astype(np.int32)
            scale, n_outputs = {}, max(len(self.classes_), 2)
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown network loss {self.loss!r}; choose one of {LOSSES}")
        # The core learns on the numpy preprocessing, which the layer reproduces exactly.
        (z_fit, t_fit), validation = _hold_out(prep.apply(x), target, float(self.validation_split), int(self.random_state))
        spec = CoreSpec(
            n_inputs=prep.n_outputs, n_outputs=n_outputs, task=self._task, hidden=tuple(int(h) for h in self.hidden),
            dropout=float(self.dropout), loss=self.loss if self._task == "regression" else "cross-entropy", seed=int(self.random_state),
            ema=validation is None,  # early stopping keeps the raw weights it watched
        )
        started = time.perf_counter()
        result = fit_core(spec, z_fit, t_fit, validation, learning_rate=float(self.learning_rate), l2=float(self.l2),
                          epochs=int(self.epochs), patience=int(self.patience), batch_size=int(self.batch_size))
        self.fit_seconds_ = time.perf_counter() - started
        self.epochs_run_ = result.passes
        self.best_epoch_ = result.best_passes
        self.model_ = build_network(prep, spec, weights=result.weights, **scale)
        return self

    def _forward(self, X) -> np.ndarray:
        x = self._matrix(X)
        # Calling the model directly avoids model.predict's per-call setup (~34 ms).
        return np.asarray(self.model_(x, training=False))


LOSSES = ("huber", "mse", "mae")
MIN_VALIDATION_ROWS = 8


def _hold_out(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """A seeded validation split for early stopping, or none when it would be too small to
    mean anything (then early stopping watches the training loss)."""
    n_val = int(len(x) * fraction)
    if n_val < MIN_VALIDATION_ROWS or len(x) - n_val < MIN_VALIDATION_ROWS:
        return (x, y), None
    order = np.random.default_rng(seed).permutation(len(x))
    val, fit = order[:n_val], order[n_val:]
    return (x[fit], y[fit]), (x[val], y[val])


class KerasTabularRegressor(RegressorMixin, KerasTabular):
    _task = "regression"

    def predict(self, X) -> np.ndarray:
        return self._forward(X).reshape(-1)


class KerasTabularClassifier(ClassifierMixin, KerasTabular):
    _task = "classification"

    def predict_proba(self, X) -> np.ndarray:
        return self._forward(X)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
