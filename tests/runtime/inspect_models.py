"""Model files for the inspector tests, made with the upstream tools (never with edgekit).

TFLiteConverter: a Keras MLP as dynamic-range int8 (per-channel dense weights, which TF
2.21 writes as FULLY_CONNECTED version 12), the same with per-tensor dense weights (the
older op version) and float16. Opcode-table variants are rewritten with LiteRT's own
flatbuffer schema module. onnx.helper / onnxruntime.quantization: a float MLP, its
quantize_dynamic'd copies (per-tensor and per-channel), a QDQ graph with per-axis int8
weights, a QLinearMatMul graph, a float16/float32 mix and a com.microsoft contrib op.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

TFLITE = ("dynamic", "dynamic_legacy", "fp16")
TFLITE_EDITED = ("custom_op", "old_writer_code", "high_code", "unknown_version")
ONNX = ("mlp", "mlp_dynamic", "mlp_dynamic_per_channel", "qdq", "qlinear", "fp16_mix", "contrib")


@dataclass(frozen=True)
class InspectModels:
    root: Path

    def __getitem__(self, name: str) -> Path:
        suffix = ".onnx" if name in ONNX else ".tflite"
        return self.root / f"{name}{suffix}"


def build(root: Path) -> InspectModels:
    """Build once per test session: the folder is reused when a previous call filled it."""
    done = root / "DONE"
    if not done.exists():
        root.mkdir(parents=True, exist_ok=True)
        _tflite(root)
        _tflite_edits(root)
        _onnx(root)
        done.write_text("ok")
    return InspectModels(root)


def _tflite(root: Path) -> None:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    inputs = keras.Input((20,), name="features")
    hidden = keras.layers.Dense(32, activation="relu")(keras.layers.Dense(64, activation="relu")(inputs))
    mlp = keras.Model(inputs, keras.layers.Dense(3, name="scores")(hidden))

    def convert(path: Path, **settings) -> None:
        converter = tf.lite.TFLiteConverter.from_keras_model(mlp)
        for key, value in settings.items():
            setattr(converter, key, value)
        path.write_bytes(converter.convert())

    convert(root / "dynamic.tflite", optimizations=[tf.lite.Optimize.DEFAULT])
    convert(root / "dynamic_legacy.tflite", optimizations=[tf.lite.Optimize.DEFAULT],
            _experimental_disable_per_channel_quantization_for_dense_layers=True)
    converter = tf.lite.TFLiteConverter.from_keras_model(mlp)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    (root / "fp16.tflite").write_bytes(converter.convert())


def _tflite_edits(root: Path) -> None:
    """Copies of dynamic.tflite whose first operator gets a new opcode-table entry."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    def custom(code):
        code.builtinCode, code.deprecatedBuiltinCode, code.customCode = 32, 32, "MyOp"

    def old_writer(code):  # files written before builtin_code existed: only the byte field
        code.builtinCode, code.deprecatedBuiltinCode, code.version = 0, 9, 1

    def high(code):  # codes past 127 do not fit the byte field: it holds the placeholder
        code.builtinCode, code.deprecatedBuiltinCode, code.version = 150, 127, 1

    def unknown(code):
        code.builtinCode, code.deprecatedBuiltinCode, code.version = 9, 9, 99

    for name, edit in (("custom_op", custom), ("old_writer_code", old_writer), ("high_code", high),
                       ("unknown_version", unknown)):
        model = schema.ModelT.InitFromPackedBuf(bytearray((root / "dynamic.tflite").read_bytes()), 0)
        code = schema.OperatorCodeT()
        edit(code)
        model.operatorCodes.append(code)
        model.subgraphs[0].operators[0].opcodeIndex = len(model.operatorCodes) - 1
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        (root / f"{name}.tflite").write_bytes(bytes(builder.Output()))


def _onnx(root: Path) -> None:
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(8, 16)).astype(np.float32), rng.normal(size=(16, 4)).astype(np.float32)

    def save(name, nodes, inputs, outputs, initializers, opsets=(("", 17),), **model_fields):
        graph = h.make_graph(nodes, name, inputs, outputs, initializer=initializers)
        model = h.make_model(graph, opset_imports=[h.make_opsetid(d, v) for d, v in opsets], **model_fields)
        model.ir_version = 9
        onnx.checker.check_model(model)
        onnx.save(model, root / f"{name}.onnx")

    x8 = [h.make_tensor_value_info("x", T.FLOAT, ["N", 8])]
    y4 = [h.make_tensor_value_info("y", T.FLOAT, ["N", 4])]
    save("mlp", [h.make_node("MatMul", ["x", "W1"], ["h"]), h.make_node("Relu", ["h"], ["r"]),
                 h.make_node("MatMul", ["r", "W2"], ["m"]), h.make_node("Add", ["m", "b"], ["y"])],
         x8, y4, [nh.from_array(w1, "W1"), nh.from_array(w2, "W2"), nh.from_array(np.zeros(4, np.float32), "b")],
         producer_name="edgekit-tests", producer_version="0.1", doc_string="A float MLP for the inspector tests.")
    model = onnx.load(root / "mlp.onnx")
    onnx.helper.set_model_props(model, {"author": "tests", "purpose": "inspection"})
    onnx.save(model, root / "mlp.onnx")
    quantize_dynamic(str(root / "mlp.onnx"), str(root / "mlp_dynamic.onnx"), weight_type=QuantType.QInt8)
    quantize_dynamic(str(root / "mlp.onnx"), str(root / "mlp_dynamic_per_channel.onnx"),
                     weight_type=QuantType.QInt8, per_channel=True)

    # QDQ: int8 weights with one scale per output column, activations quantised per tensor.
    scale = (np.abs(w1).max(axis=0) / 127).astype(np.float32)
    w1_q = np.clip(np.round(w1 / scale), -127, 127).astype(np.int8)
    save("qdq", [h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
                 h.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
                 h.make_node("DequantizeLinear", ["Wq", "Ws", "Wz"], ["W"], axis=1),
                 h.make_node("MatMul", ["xd", "W"], ["y"])],
         x8, [h.make_tensor_value_info("y", T.FLOAT, ["N", 16])],
         [nh.from_array(np.float32(0.05), "xs"), nh.from_array(np.int8(0), "xz"), nh.from_array(w1_q, "Wq"),
          nh.from_array(scale, "Ws"), nh.from_array(np.zeros(16, np.int8), "Wz")], opsets=(("", 13),))

    # QLinearMatMul: uint8 activations and weights, one scale each.
    save("qlinear", [h.make_node("QLinearMatMul", ["a", "as", "az", "B", "bs", "bz", "ys", "yz"], ["y"])],
         [h.make_tensor_value_info("a", T.UINT8, ["N", 8])], [h.make_tensor_value_info("y", T.UINT8, ["N", 4])],
         [nh.from_array(np.float32(0.1), "as"), nh.from_array(np.uint8(128), "az"),
          nh.from_array(rng.integers(0, 255, (8, 4)).astype(np.uint8), "B"), nh.from_array(np.float32(0.02), "bs"),
          nh.from_array(np.uint8(128), "bz"), nh.from_array(np.float32(0.5), "ys"), nh.from_array(np.uint8(128), "yz")])

    # float16 weights inside a float32 model.
    save("fp16_mix", [h.make_node("Cast", ["x"], ["x16"], to=T.FLOAT16), h.make_node("MatMul", ["x16", "W"], ["m16"]),
                      h.make_node("Cast", ["m16"], ["m"], to=T.FLOAT), h.make_node("Add", ["m", "b"], ["y"])],
         x8, y4, [nh.from_array(w2[:8].astype(np.float16), "W"), nh.from_array(np.ones(4, np.float32), "b")])

    # An operator from onnxruntime's contrib domain.
    save("contrib", [h.make_node("FusedMatMul", ["x", "W"], ["y"], domain="com.microsoft", alpha=0.5)],
         x8, [h.make_tensor_value_info("y", T.FLOAT, ["N", 16])], [nh.from_array(w1, "W")],
         opsets=(("", 17), ("com.microsoft", 1)))
