"""Models for the foreign-conversion tests, made with upstream tools only (tf2onnx, tf.saved_model,
plain Keras), plus an in-process CLI runner; the shared ``foreign`` fixture provides the rest."""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@dataclass(frozen=True)
class Cli:
    code: int
    stdout: str
    stderr: str


def run_edgekit(*args) -> Cli:
    """``edgekit ARGS`` in this process (TensorFlow stays imported): exit code and output."""
    from edgekit.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = int(exc.code or 0)
    return Cli(code, out.getvalue(), err.getvalue())


def conversion(folder: Path) -> dict:
    report = json.loads((folder / "conversion.json").read_text())
    return {r["name"]: r for r in report["results"]}


@dataclass(frozen=True)
class ForeignExtras:
    eval_npz: Path           # image: the foreign fixture's 397 test digits
    labels_npy: Path         # their class indices
    wide_cnn_keras: Path     # a CNN whose weights dominate its file (Dense 1024 -> 96)
    cnn_onnx: Path           # the fixture CNN through tf2onnx.from_function, float32
    module_saved_model: Path  # the fixture CNN inside a tf.Module, tf.saved_model.save with a signature
    no_signature: Path       # a SavedModel folder without any signature
    lambda_keras: Path       # a .keras file with a Lambda layer
    two_io_calibration: Path  # a [N,4] and b [N,3] float32


@pytest.fixture(scope="session")
def foreign_extras(foreign, tmp_path_factory) -> ForeignExtras:
    import keras
    import tensorflow as tf
    import tf2onnx
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("foreign_extras")
    np.savez(root / "eval.npz", image=foreign.digits_x)
    np.save(root / "labels.npy", foreign.digits_y)

    keras.utils.set_random_seed(1)
    digits = load_digits()
    images, targets = digits.images.astype(np.float32)[:1400, ..., None], digits.target[:1400]
    inputs = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Rescaling(1 / 16)(inputs)
    h = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(h)
    h = keras.layers.Dense(96, activation="relu")(keras.layers.Flatten()(h))
    wide = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="scores")(h))
    wide.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    wide.fit(images, targets, epochs=3, batch_size=64, verbose=0)
    wide.save(root / "wide_cnn.keras")

    cnn = keras.saving.load_model(foreign.cnn_keras)
    spec = [tf.TensorSpec((None, 8, 8, 1), tf.float32, name="image")]

    @tf.function(input_signature=spec)
    def serve(image):
        return {"scores": cnn(image, training=False)}

    with contextlib.redirect_stdout(io.StringIO()):
        onnx_model, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=17)
    (root / "cnn.onnx").write_bytes(onnx_model.SerializeToString())

    module = tf.Module()
    module.model = cnn
    tf.saved_model.save(module, str(root / "module_saved_model"), signatures={"serving_default": serve})

    empty = tf.Module()
    empty.v = tf.Variable(1.0)
    tf.saved_model.save(empty, str(root / "no_signature"))

    x = keras.Input((3,), name="x")
    keras.Model(x, keras.layers.Lambda(lambda t: t * 2.0)(x)).save(root / "lambda.keras")

    rng = np.random.default_rng(0)
    np.savez(root / "two_io_calibration.npz", a=rng.normal(size=(200, 4)).astype(np.float32),
             b=rng.normal(size=(200, 3)).astype(np.float32))
    return ForeignExtras(root / "eval.npz", root / "labels.npy", root / "wide_cnn.keras", root / "cnn.onnx",
                         root / "module_saved_model", root / "no_signature", root / "lambda.keras",
                         root / "two_io_calibration.npz")


def _chunks(feeds: dict[str, np.ndarray], batch: int):
    rows = len(next(iter(feeds.values())))
    for start in range(0, rows, batch):
        yield {k: v[start : start + batch] for k, v in feeds.items()}


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def bare_tflite(path: Path, feeds: dict[str, np.ndarray], batch: int) -> dict[str, np.ndarray]:
    """ai-edge-litert's signature runner on the file, ``batch`` rows per call: float feeds
    quantised and outputs dequantised with the parameters the interpreter itself reports."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    inputs, outputs = runner.get_input_details(), runner.get_output_details()
    parts = []
    for chunk in _chunks(feeds, batch):
        prepared = {}
        for name, x in chunk.items():
            dtype = np.dtype(inputs[name]["dtype"])
            if dtype.kind in "iu":
                scale, zero = inputs[name]["quantization"]
                info = np.iinfo(dtype)
                x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
            prepared[name] = x
        result = {}
        for name, y in runner(**prepared).items():
            scale, zero = outputs[name]["quantization"]
            result[name] = (y.astype(np.float32) - zero) * scale if np.dtype(y.dtype).kind in "iu" and scale else y.copy()
        parts.append(result)
    return _concat(parts)


def bare_onnx(path: Path, feeds: dict[str, np.ndarray], batch: int) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return _concat([dict(zip(names, session.run(None, chunk))) for chunk in _chunks(feeds, batch)])


def bare(path: Path, feeds: dict[str, np.ndarray], batch: int = 1) -> dict[str, np.ndarray]:
    return bare_tflite(path, feeds, batch) if path.suffix == ".tflite" else bare_onnx(path, feeds, batch)


def metrics(reference: np.ndarray, got: np.ndarray, labels: np.ndarray | None = None) -> dict:
    """The gate's numbers, recomputed here from the two outputs."""
    r, g = reference.astype(np.float64), got.astype(np.float64)
    out = {"max_abs_error": float(np.abs(g - r).max()), "mean_abs_error": float(np.abs(g - r).mean()),
           "cosine": float(r.ravel() @ g.ravel() / (np.linalg.norm(r) * np.linalg.norm(g)))}
    if r.ndim == 2 and r.shape[1] >= 2:
        out["top1_agreement"] = float(np.mean(r.argmax(1) == g.argmax(1)))
        if labels is not None:
            out["source_accuracy"] = float(np.mean(r.argmax(1) == labels))
            out["export_accuracy"] = float(np.mean(g.argmax(1) == labels))
    return out


@dataclass(frozen=True)
class ForeignTools:
    """The helpers above, as one fixture (test modules cannot import conftest)."""

    run: object = staticmethod(run_edgekit)
    conversion: object = staticmethod(conversion)
    bare: object = staticmethod(bare)
    metrics: object = staticmethod(metrics)


@pytest.fixture(scope="session")
def ft() -> ForeignTools:
    return ForeignTools()
