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


def build_network(
    prep: TabularPreprocessing,
    *,
    task: str,
    n_classes: int,
    hidden: tuple[int, ...],
    dropout: float,
    learning_rate: float,
    target_mean: float = 0.0,
    target_std: float = 1.0,
):
    keras = _keras()
    preprocess, target_scale = _layers()
    inputs = keras.Input((prep.n_inputs,), name="x")
    h = preprocess(prep.to_dict(), name=PREPROCESS_LAYER)(inputs)
    for i, width in enumerate(hidden):
        h = keras.layers.Dense(width, activation="relu", name=f"dense_{i}")(h)
        if dropout:
            h = keras.layers.Dropout(dropout, name=f"dropout_{i}")(h)
    if task == "regression":
        y = keras.layers.Dense(1, name="head")(h)
        y = target_scale(target_mean, target_std, name="target_scale")(y)
        loss = "mse"
    else:
        y = keras.layers.Dense(n_classes, activation="softmax", name="head")(h)
        loss = "sparse_categorical_crossentropy"
    model = keras.Model(inputs, y, name="edgekit_mlp")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    return model


class KerasTabular(BaseEstimator):
    """Shared fitting logic; use :class:`KerasTabularRegressor` or ``...Classifier``."""

    _task = "regression"

    def __init__(
        self,
        schema: Schema | None = None,
        hidden: tuple[int, ...] = (64, 64),
        dropout: float = 0.0,
        learning_rate: float = 1e-3,
        epochs: int = 300,
        batch_size: int = 32,
        patience: int = 20,
        validation_split: float = 0.2,
        impute: str = "median",
        random_state: int = 0,
    ):
        self.schema = schema
        self.hidden = hidden
        self.dropout = dropout
        self.learning_rate = learning_rate
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
        from edgekit.train.prepare import network_preprocessing

        keras = _keras()
        keras.utils.set_random_seed(int(self.random_state))
        x = self._matrix(X)
        y = np.asarray(y)
        prep = network_preprocessing(x, self.schema, self.impute)
        if self._task == "regression":
            target = y.astype(np.float32)
            kwargs = {"target_mean": float(target.mean()), "target_std": float(target.std() or 1.0)}
            n_classes = 1
        else:
            self.classes_ = np.unique(y)
            target = np.searchsorted(self.classes_, y).astype(np.int32)
            kwargs, n_classes = {}, len(self.classes_)
        self.model_ = build_network(
            prep,
            task=self._task,
            n_classes=max(n_classes, 2) if self._task == "classification" else 1,
            hidden=tuple(int(h) for h in self.hidden),
            dropout=float(self.dropout),
            learning_rate=float(self.learning_rate),
            **kwargs,
        )
        (x_fit, y_fit), validation = _hold_out(x, target, float(self.validation_split), int(self.random_state))
        reps = _repeats(len(x_fit))
        x_fit, y_fit = np.tile(x_fit, (reps, 1)), np.tile(y_fit, reps)
        epochs = max(-(-int(self.epochs) // reps), min(MIN_EPOCHS, int(self.epochs)))
        patience = max(-(-int(self.patience) // reps), 3)
        monitor = "val_loss" if validation is not None else "loss"
        stop = keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True)
        started = time.perf_counter()
        history = self.model_.fit(
            x_fit,
            y_fit,
            epochs=epochs,
            batch_size=int(self.batch_size),
            validation_data=validation,
            callbacks=[stop],
            verbose=0,
            shuffle=True,
        )
        self.fit_seconds_ = time.perf_counter() - started
        self.epochs_run_ = len(history.history["loss"])
        return self

    def _forward(self, X) -> np.ndarray:
        x = self._matrix(X)
        # Calling the model directly avoids model.predict's per-call setup (~34 ms).
        return np.asarray(self.model_(x, training=False))


MIN_VALIDATION_ROWS = 8
MIN_EPOCH_ROWS = 1024
MIN_EPOCHS = 30


def _hold_out(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """A seeded validation split for early stopping, or none when it would be too small to
    mean anything (then early stopping watches the training loss)."""
    n_val = int(len(x) * fraction)
    if n_val < MIN_VALIDATION_ROWS or len(x) - n_val < MIN_VALIDATION_ROWS:
        return (x, y), None
    order = np.random.default_rng(seed).permutation(len(x))
    val, fit = order[:n_val], order[n_val:]
    return (x[fit], y[fit]), (x[val], y[val])


def _repeats(rows: int) -> int:
    """How often a small training set is repeated inside one Keras epoch.

    Keras spends ~35 ms per epoch on bookkeeping here, more than a few gradient steps, so
    small sets are repeated up to MIN_EPOCH_ROWS rows per epoch and ``epochs``/``patience``
    (which count passes over the original data) are divided accordingly, keeping at least
    MIN_EPOCHS epochs so that a 6-row problem (y = 2x - 1) still gets enough steps."""
    return max(1, -(-MIN_EPOCH_ROWS // max(rows, 1)))


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
