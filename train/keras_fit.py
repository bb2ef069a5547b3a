"""Fitting the network's dense core quickly: one traced train step per architecture per process.

Keras spends ~1.5 s of CPU tracing a new model's train function and ~40 ms of bookkeeping
per ``fit`` epoch on numpy input (its validation builds a new dataset iterator every
epoch), far more than the gradient steps of a small tabular set. So the dense core
(everything after the preprocessing layer) is trained on already-preprocessed matrices:

- one compiled core per architecture is kept per process and reset to its seeded initial
  state (weights, optimizer slots, dropout seeds) for every fit, so the folds of a search
  reuse the traced functions instead of tracing one model per fold;
- one ``fit`` call reads a repeated, shuffled ``tf.data`` pipeline; each Keras epoch is a
  chunk of ``STEPS_PER_CHUNK`` steps run inside one graph call (``steps_per_execution``).

Training recipe (chosen by cross-validation on Auto MPG, digits and diabetes; see the
report in the commit): a fixed budget of passes with L2 regularisation and an exponential
moving average of the weights (Keras' ``use_ema``) on every training row. Early stopping
on a held-out part is used instead when the caller passes one (``validation_split``).

The caller copies the trained weights into a fresh exportable model
(``keras_model.build_network``): the cached core never leaves this module.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

STEPS_PER_CHUNK = 16  # gradient steps per Keras epoch (one graph call)
MIN_STEPS = 600  # tiny sets still get enough steps to converge (hello world: 6 rows)
MAX_STEPS = 20_000  # large sets: a bounded budget per fit
MIN_PATIENCE_CHUNKS = 3
EMA_MOMENTUM = 0.99
CACHE_SIZE = 8


@dataclass(frozen=True)
class CoreSpec:
    """Everything that decides the core's graph, optimizer and initial weights."""

    n_inputs: int
    n_outputs: int
    task: str  # "regression" or "classification"
    hidden: tuple[int, ...]
    dropout: float
    loss: str  # regression: "mae", "mse" or "huber"; classification: cross-entropy always
    seed: int
    ema: bool = True


@dataclass(frozen=True)
class CoreFit:
    weights: list[np.ndarray]  # Dense kernels and biases, first layer to head, as build_network wants them
    passes: float  # passes over the training rows run
    best_passes: float  # passes at the kept weights (the last ones unless early stopping restored earlier ones)


def _keras():
    from edgekit.train.tf_env import import_keras

    return import_keras()


def dense_stack(keras, h, spec: CoreSpec, *, regularizer=None, seeds: random.Random | None = None):
    """The layers after the preprocessing, shared by the cached core and the saved network
    (which is built without the training-only regulariser and gets trained weights).

    ``seeds`` draws each kernel initializer's seed. Unseeded, Keras draws them from Python's
    process-wide ``random``, which other threads use too (a Dask worker's event loop does),
    so the same seed could give other initial weights on a worker than here. The draws are
    the ones ``keras.utils.set_random_seed(spec.seed)`` would give (``randint(1, 1e9)`` per
    initializer), so the weights are those of the unseeded layers in a quiet process."""

    def kernel():
        return keras.initializers.GlorotUniform(seed=seeds.randint(1, int(1e9))) if seeds else "glorot_uniform"

    for i, width in enumerate(spec.hidden):
        h = keras.layers.Dense(width, activation="relu", kernel_initializer=kernel(), kernel_regularizer=regularizer,
                               name=f"dense_{i}")(h)
        if spec.dropout:
            h = keras.layers.Dropout(spec.dropout, seed=spec.seed + i, name=f"dropout_{i}")(h)
    activation = "softmax" if spec.task == "classification" else None
    return keras.layers.Dense(spec.n_outputs, activation=activation, kernel_initializer=kernel(), name="head")(h)


def _loss(keras, spec: CoreSpec):
    if spec.task == "classification":
        return keras.losses.SparseCategoricalCrossentropy()
    if spec.loss == "huber":
        return keras.losses.Huber(delta=1.0)  # on standardised targets
    return keras.losses.MeanAbsoluteError() if spec.loss == "mae" else keras.losses.MeanSquaredError()


class _Core:
    def __init__(self, spec: CoreSpec):
        from edgekit.train.tf_env import import_tensorflow

        tf, keras = import_tensorflow(), _keras()
        keras.utils.set_random_seed(spec.seed)
        # The L2 strength and learning rate are variables, not constants of the graph, so
        # every setting of them (and every fold size) shares one traced train function.
        self.l2 = keras.Variable(0.0, trainable=False, name="l2")
        l2 = self.l2

        def penalty(kernel):
            return l2 * keras.ops.sum(keras.ops.square(kernel))

        inputs = keras.Input((spec.n_inputs,), name="z")
        outputs = dense_stack(keras, inputs, spec, regularizer=penalty, seeds=random.Random(spec.seed))
        self.model = keras.Model(inputs, outputs, name="edgekit_core")
        self.optimizer = keras.optimizers.Adam(1e-3, use_ema=spec.ema, ema_momentum=EMA_MOMENTUM)
        loss = _loss(keras, spec)
        self.model.compile(optimizer=self.optimizer, loss=loss, steps_per_execution=STEPS_PER_CHUNK)
        self.optimizer.build(self.model.trainable_variables)
        # model.variables includes the dropout seed state, so every fit replays the same noise;
        # the optimizer's are its step count, moments, learning rate and weight averages.
        self.variables = list(self.model.variables) + list(self.optimizer.variables)
        self.initial = [np.array(v.numpy()) for v in self.variables]
        target = tf.int32 if spec.task == "classification" else tf.float32
        model = self.model

        @tf.function(input_signature=[tf.TensorSpec((None, spec.n_inputs), tf.float32), tf.TensorSpec((None,), target)])
        def held_out_loss(z, t):
            return loss(t, model(z, training=False))

        self.held_out_loss = held_out_loss

    def reset(self, learning_rate: float, l2: float) -> None:
        for variable, value in zip(self.variables, self.initial):
            variable.assign(value)
        self.optimizer.learning_rate = learning_rate
        self.l2.assign(l2)


class _EarlyStopping:
    """Stop when the held-out loss has not improved for ``patience`` chunks; keep the best weights.

    The rule of Keras' EarlyStopping (min_delta 0, best weights restored at the end), but
    fed by one traced call on the held-out matrix instead of Keras' per-epoch evaluation."""

    def __init__(self, keras, core: _Core, validation, patience: int):
        import tensorflow as tf

        self.callback = keras.callbacks.LambdaCallback(on_epoch_end=self._on_epoch_end, on_train_end=self._on_train_end)
        self.core, self.patience = core, patience
        self.validation = tuple(tf.constant(v) for v in validation)
        self.best, self.best_chunk, self.best_weights, self.wait = math.inf, 0, None, 0

    def _on_epoch_end(self, chunk, logs):
        current = float(self.core.held_out_loss(*self.validation))
        if current < self.best:
            self.best, self.best_chunk, self.wait = current, chunk + 1, 0
            self.best_weights = self.core.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience or not math.isfinite(current):
            self.core.model.stop_training = True

    def _on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.core.model.set_weights(self.best_weights)


_CACHE: "OrderedDict[CoreSpec, _Core]" = OrderedDict()


def _core(spec: CoreSpec) -> _Core:
    core = _CACHE.pop(spec, None) or _Core(spec)
    _CACHE[spec] = core
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return core


def fit_core(spec: CoreSpec, x: np.ndarray, y: np.ndarray, validation: tuple[np.ndarray, np.ndarray] | None, *,
             learning_rate: float, l2: float, epochs: int, patience: int, batch_size: int) -> CoreFit:
    """Train the core on preprocessed ``x`` (standardised ``y`` for regression, class indices
    for classification). ``epochs`` and ``patience`` count passes over ``x``; with a
    ``validation`` pair training stops early on its loss (then pass ``spec.ema=False``).

    ``l2`` penalises the squared kernels against the *summed* loss over the rows, as
    scikit-learn's ``alpha`` and ``C`` do, so the same value regularises a larger training
    set (the refit after cross-validation) proportionally less."""
    from edgekit.train.tf_env import import_tensorflow

    tf, keras = import_tensorflow(), _keras()
    core = _core(spec)
    core.reset(float(learning_rate), float(l2) / len(x))
    batch_size = max(1, min(int(batch_size), len(x)))
    steps_per_pass = math.ceil(len(x) / batch_size)
    steps = min(max(int(epochs) * steps_per_pass, min(MIN_STEPS, int(epochs) * 100)), MAX_STEPS)
    # Every input column, one-hot indicators included, is standardised for the optimiser, as
    # TensorFlow's tutorial Normalization does (0/1 indicators trained measurably worse
    # there); the affine map is folded back into the first layer below, so the saved
    # network keeps the runtime's preprocessing spec.
    spread = x.std(axis=0)
    shift = np.where(spread > 0, x.mean(axis=0), 0.0).astype(np.float32)
    scale = np.where(spread > 0, spread, 1.0).astype(np.float32)

    def standardise(z):
        return ((z - shift) / scale).astype(np.float32)

    # The row order comes from numpy, seeded per fit: tf.data's shuffle also depends on
    # TensorFlow's global seed, i.e. on what ran before in this process.
    rng = np.random.default_rng(spec.seed)
    order = np.concatenate([rng.permutation(len(x)) for _ in range(math.ceil(steps * batch_size / len(x)) + 1)])
    features, targets = tf.constant(standardise(x)), tf.constant(y)
    data = (
        tf.data.Dataset.from_tensor_slices(order.astype(np.int32))
        .batch(batch_size)
        .map(lambda rows: (tf.gather(features, rows), tf.gather(targets, rows)))
        .repeat()
    )
    callbacks, stop = [], None
    if validation is not None:
        patience_chunks = max(MIN_PATIENCE_CHUNKS, math.ceil(int(patience) * steps_per_pass / STEPS_PER_CHUNK))
        stop = _EarlyStopping(keras, core, (standardise(validation[0]), validation[1]), patience_chunks)
        callbacks.append(stop.callback)
    chunks = max(1, math.ceil(steps / STEPS_PER_CHUNK))
    history = core.model.fit(data, epochs=chunks, steps_per_epoch=STEPS_PER_CHUNK, callbacks=callbacks, verbose=0,
                             shuffle=False)
    run = len(history.history["loss"])
    kept = stop.best_chunk if stop is not None and stop.best_chunk else run
    weights = [np.array(w) for w in core.model.get_weights()]
    # (z - shift) / scale @ W + b  ==  z @ (W / scale) + (b - (shift / scale) @ W), exactly.
    kernel, bias = weights[0], weights[1]
    weights[0] = (kernel / scale[:, None]).astype(np.float32)
    weights[1] = (bias - (shift / scale) @ kernel).astype(np.float32)
    per_pass = STEPS_PER_CHUNK / steps_per_pass
    return CoreFit(weights, run * per_pass, kept * per_pass)
