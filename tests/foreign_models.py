"""Models made the way other toolchains make them, never with edgekit's trainer.

Each builder writes files with the upstream tools directly (``tf.lite.TFLiteConverter``,
``onnx.helper``, ``keras.Model.save``) so the tensor layer, ``info``, ``bench``,
``convert`` and ``serve`` are tested on files edgekit did not shape. conftest.py exposes
them as the session fixture ``foreign``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ForeignModels:
    root: Path
    cnn_keras: Path           # Keras CNN on 8x8x1 digit images, pixel values 0..16 as float32
    cnn_fp32: Path            # the same CNN, TFLiteConverter float32
    cnn_int8: Path            # full int8 with uint8 input and uint8 output
    two_io_keras: Path        # inputs "a" [?,4] and "b" [?,3]; outputs "total" [?,1] and "parts" [?,2]
    two_io: Path              # the same model as .tflite (signature keys as names)
    dynamic: Path             # .tflite with a dynamic batch and sequence: [?, ?, 6] -> [?, 4]
    stateful_onnx: Path       # onnx.helper graph: x [N,3] float, step int64 scalar, state [1,3] float
    multi_signature: Path     # .tflite with signatures "add" ([?,2] + 1) and "scale" ([?,3] * 3)
    digits_x: np.ndarray      # [n, 8, 8, 1] float32 0..16 (test images)
    digits_y: np.ndarray      # [n] int labels
    calibration: Path         # .npz with the CNN's input name -> training images


def build_all(root: Path) -> ForeignModels:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf
    from sklearn.datasets import load_digits

    root.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    digits = load_digits()
    images = digits.images.astype(np.float32)[..., None]  # 0..16
    labels = digits.target.astype(np.int64)
    train_x, test_x, train_y, test_y = images[:1400], images[1400:], labels[:1400], labels[1400:]

    # 1. A small CNN, saved as a plain .keras file.
    inputs = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Rescaling(1 / 16)(inputs)
    h = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(10, activation="softmax", name="scores")(h)
    cnn = keras.Model(inputs, outputs)
    cnn.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    cnn.fit(train_x, train_y, epochs=8, batch_size=64, verbose=0)
    cnn_keras = root / "cnn.keras"
    cnn.save(cnn_keras)

    converter = tf.lite.TFLiteConverter.from_keras_model(cnn)
    cnn_fp32 = root / "cnn_fp32.tflite"
    cnn_fp32.write_bytes(converter.convert())

    def representative():
        for i in range(0, 400, 4):
            yield [train_x[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(cnn)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    cnn_int8 = root / "cnn_int8_uint8io.tflite"
    cnn_int8.write_bytes(converter.convert())

    # 2. Two inputs, two outputs.
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    merged = keras.layers.Concatenate()([keras.layers.Dense(5, activation="tanh")(a), keras.layers.Dense(5)(b)])
    total = keras.layers.Dense(1, name="total")(merged)
    parts = keras.layers.Dense(2, name="parts")(merged)
    two = keras.Model({"a": a, "b": b}, {"total": total, "parts": parts})
    two_io_keras = root / "two_io.keras"
    two.save(two_io_keras)
    two_io = root / "two_io.tflite"
    two_io.write_bytes(tf.lite.TFLiteConverter.from_keras_model(two).convert())

    # 3. A dynamic batch and sequence dimension.
    seq = keras.Input((None, 6), name="frames")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Dense(8, activation="relu")(seq))
    dyn = keras.Model(seq, keras.layers.Dense(4, name="logits")(pooled))
    dynamic = root / "dynamic_seq.tflite"
    dynamic.write_bytes(tf.lite.TFLiteConverter.from_keras_model(dyn).convert())

    # 4. An ONNX graph by hand: int64 scalar input, state in and out.
    stateful_onnx = root / "stateful.onnx"
    _write_stateful_onnx(stateful_onnx)

    # 5. Two signatures in one .tflite file.
    multi_signature = root / "multi_signature.tflite"
    _write_multi_signature(multi_signature, root / "multi_sig_savedmodel", tf)

    calibration = root / "calibration.npz"
    np.savez(calibration, image=train_x[:200])
    return ForeignModels(root, cnn_keras, cnn_fp32, cnn_int8, two_io_keras, two_io, dynamic, stateful_onnx,
                         multi_signature, test_x, test_y, calibration)


def _write_stateful_onnx(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    one = helper.make_tensor("one", TensorProto.INT64, [], [1])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [0])
    nodes = [
        helper.make_node("Mul", ["x", "two"], ["doubled"]),
        helper.make_node("Add", ["doubled", "state"], ["y"]),
        helper.make_node("ReduceMean", ["x", "axes"], ["mean"], keepdims=1),
        helper.make_node("Add", ["state", "mean"], ["next_state"]),
        helper.make_node("Add", ["step", "one"], ["next_step"]),
    ]
    graph = helper.make_graph(
        nodes, "stateful",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("step", TensorProto.INT64, []),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("next_state", TensorProto.FLOAT, [1, 3]),
         helper.make_tensor_value_info("next_step", TensorProto.INT64, [])],
        initializer=[two, one, axes],
    )
    model = helper.make_model(graph, producer_name="onnx.helper", opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _write_multi_signature(path: Path, saved: Path, tf) -> None:
    class Two(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def add(self, x):
            return {"plus_one": x + 1.0}

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="v")])
        def scale(self, v):
            return {"tripled": v * 3.0}

    module = Two()
    tf.saved_model.save(module, str(saved), signatures={"add": module.add, "scale": module.scale})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["add", "scale"])
    path.write_bytes(converter.convert())
