"""Which operators a .tflite model uses, and how TFLite Micro's op resolver registers them.

Firmware registers each operator on a ``tflite::MicroMutableOpResolver<N>`` with one
``AddXxx()`` call; registering fewer than the model uses fails on the board at
``AllocateTensors`` ("Didn't find op for builtin opcode"), registering more wastes flash.
The operators come from the model's own opcode table (the flatbuffer), so the list is
exactly what the interpreter will look up.

``TFLM_METHODS`` is ``micro_mutable_op_resolver.h`` of tflite-micro (main branch, August
2026, the sources of the ``tflite-micro`` wheel this project pins): builtin operator name
-> the method that registers it. TFLM's Python interpreter registers every one of them,
so a model that runs in it runs with a resolver built from this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.runtime.errors import ConversionError, ModelLoadError
from edgekit.runtime.tflite_file import inspect_tflite

TFLM_METHODS: dict[str, str] = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax", "ARG_MIN": "AddArgMin",
    "ASSIGN_VARIABLE": "AddAssignVariable", "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "BROADCAST_ARGS": "AddBroadcastArgs", "BROADCAST_TO": "AddBroadcastTo",
    "CALL_ONCE": "AddCallOnce", "CAST": "AddCast", "CEIL": "AddCeil", "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D", "COS": "AddCos", "CUMSUM": "AddCumSum", "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv",
    "DYNAMIC_UPDATE_SLICE": "AddDynamicUpdateSlice", "EMBEDDING_LOOKUP": "AddEmbeddingLookup", "ELU": "AddElu",
    "EQUAL": "AddEqual", "EXP": "AddExp", "EXPAND_DIMS": "AddExpandDims", "FILL": "AddFill", "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv", "FLOOR_MOD": "AddFloorMod", "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather", "GATHER_ND": "AddGatherNd", "GREATER": "AddGreater", "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish", "IF": "AddIf", "L2_NORMALIZATION": "AddL2Normalization", "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu", "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual", "LOG": "AddLog",
    "LOGICAL_AND": "AddLogicalAnd", "LOGICAL_NOT": "AddLogicalNot", "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic", "LOG_SOFTMAX": "AddLogSoftmax", "MAXIMUM": "AddMaximum", "MAX_POOL_2D": "AddMaxPool2D",
    "MIRROR_PAD": "AddMirrorPad", "MEAN": "AddMean", "MINIMUM": "AddMinimum", "MUL": "AddMul", "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual", "PACK": "AddPack", "PAD": "AddPad", "PADV2": "AddPadV2", "PRELU": "AddPrelu",
    "QUANTIZE": "AddQuantize", "READ_VARIABLE": "AddReadVariable", "REDUCE_ALL": "AddReduceAll",
    "REDUCE_MAX": "AddReduceMax", "REDUCE_MIN": "AddReduceMin", "RELU": "AddRelu", "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape", "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "REVERSE_V2": "AddReverseV2", "ROUND": "AddRound",
    "RSQRT": "AddRsqrt", "SELECT_V2": "AddSelectV2", "SHAPE": "AddShape", "SIN": "AddSin", "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax", "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd", "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQUEEZE": "AddSqueeze", "SQRT": "AddSqrt", "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference", "STRIDED_SLICE": "AddStridedSlice", "SUB": "AddSub",
    "SUM": "AddSum", "SVDF": "AddSvdf", "TANH": "AddTanh", "TRANSPOSE_CONV": "AddTransposeConv",
    "TRANSPOSE": "AddTranspose", "UNPACK": "AddUnpack",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM", "VAR_HANDLE": "AddVarHandle",
    "WHILE": "AddWhile", "ZEROS_LIKE": "AddZerosLike",
}

# Custom operators TFLM ships kernels for, by the custom code converters write.
TFLM_CUSTOM_METHODS: dict[str, str] = {
    "TFLite_Detection_PostProcess": "AddDetectionPostprocess", "CIRCULAR_BUFFER": "AddCircularBuffer",
}


@dataclass(frozen=True)
class OpUse:
    """One operator of the model's opcode table."""

    name: str  # builtin name (FULLY_CONNECTED) or the custom code
    custom: bool
    method: str | None  # the MicroMutableOpResolver method, or None if TFLM has no kernel

    def to_dict(self) -> dict:
        return {"name": self.name, "custom": self.custom, "method": self.method}


def model_ops(content: bytes, name: str = "model") -> tuple[OpUse, ...]:
    """The distinct operators the model's subgraphs call, in opcode-table order."""
    inspect_tflite(content, name)  # bounds-checked walk first: the generated reader trusts offsets
    from ai_edge_litert import schema_py_generated as schema

    builtin_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(content, 0)
    used: set[int] = set()
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        used.update(subgraph.Operators(i).OpcodeIndex() for i in range(subgraph.OperatorsLength()))
    ops: dict[str, OpUse] = {}
    for index in sorted(used):
        opcode = model.OperatorCodes(index)
        # Codes above 127 live in BuiltinCode; the deprecated int8 field keeps old files readable.
        code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
        if code == schema.BuiltinOperator.CUSTOM:
            custom = (opcode.CustomCode() or b"").decode("utf-8", "replace")
            ops.setdefault(custom, OpUse(custom, True, TFLM_CUSTOM_METHODS.get(custom)))
        else:
            builtin = builtin_names.get(code)
            if builtin is None:
                raise ModelLoadError(f"{name}: operator code {code} is unknown to this TFLite schema")
            ops.setdefault(builtin, OpUse(builtin, False, TFLM_METHODS.get(builtin)))
    return tuple(ops.values())


def require_tflm_ops(ops: tuple[OpUse, ...], name: str = "model") -> None:
    """Refuse a model whose operators TFLM lacks, naming every one of them."""
    missing = [op.name + (" (custom)" if op.custom else "") for op in ops if op.method is None]
    if missing:
        raise ConversionError(f"{name}: TFLite Micro has no kernel for {', '.join(missing)}",
                              hint="replace these layers, or register your own kernel with AddCustom")
