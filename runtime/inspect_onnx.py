"""Static facts about any .onnx file, read with the bounds-checked protobuf walker.

The whole file is first verified by ``onnx_file.walk_model``; this module then reads the
ModelProto's header (IR version, opsets, producer), the main graph's nodes, initializers,
inputs and outputs. Inputs are the graph inputs that are not initializers, typed and
shaped as onnxruntime reports them (symbolic dimensions keep their names). Field numbers
follow ``onnx.proto``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from edgekit.runtime.backends.ort import _ORT_TYPES
from edgekit.runtime.inspect_report import PER_CHANNEL, PER_TENSOR, UNKNOWN, Weight
from edgekit.runtime.manifest import METADATA_KEY, parse_manifest
from edgekit.runtime.errors import ModelLoadError
from edgekit.runtime.onnx_file import _Walker, check_external_data, walk_model
from edgekit.runtime.tensors import TensorSpec

DOC_CHARS = 200
_DEFAULT_DOMAINS = ("", "ai.onnx")
# TensorProto.DataType -> (name as onnxruntime spells it inside "tensor(...)", bits per element)
_ELEM_TYPES = {1: ("float", 32), 2: ("uint8", 8), 3: ("int8", 8), 4: ("uint16", 16), 5: ("int16", 16),
               6: ("int32", 32), 7: ("int64", 64), 8: ("string", None), 9: ("bool", 8), 10: ("float16", 16),
               11: ("double", 64), 12: ("uint32", 32), 13: ("uint64", 64), 14: ("complex64", 64),
               15: ("complex128", 128), 16: ("bfloat16", 16), 17: ("float8e4m3fn", 8), 18: ("float8e4m3fnuz", 8),
               19: ("float8e5m2", 8), 20: ("float8e5m2fnuz", 8), 21: ("uint4", 4), 22: ("int4", 4),
               23: ("float4e2m1", 4), 24: ("float8e8m0", 8), 25: ("uint2", 2), 26: ("int2", 2),
               27: ("float6e2m3", 6), 28: ("float6e3m2", 6)}
_NUMPY_NAMES = {"float": "float32", "double": "float64"}
# Quantised operators -> (weight input, its scale input or None, its zero-point input):
# a quantised weight is an integer initializer in the weight slot; one scale (or zero
# point, for the *Integer ops whose scale is applied later) per tensor or per channel.
_QUANT_INPUTS = {
    "DequantizeLinear": ((0, 1, 2),),
    "QLinearConv": ((3, 4, 5),),
    "QLinearMatMul": ((0, 1, 2), (3, 4, 5)),
    "MatMulInteger": ((0, None, 2), (1, None, 3)),
    "ConvInteger": ((1, None, 3),),
    "QGemm": ((3, 4, 5),),
    "DynamicQuantizeMatMul": ((1, 2, 3),),
    "MatMulIntegerToFloat": ((1, 3, 5),),
    "QLinearAdd": ((0, 1, 2), (3, 4, 5)),
    "QLinearMul": ((0, 1, 2), (3, 4, 5)),
}
_INTEGER = ("int8", "uint8", "int16", "uint16", "int32", "int4", "uint4", "int2", "uint2")


class _Message:
    """Typed access to one parsed protobuf message; wrong wire types are refused."""

    def __init__(self, walker: _Walker, fields: dict[int, list]):
        self.w = walker
        self.f = fields

    def spans(self, number: int) -> list[tuple[int, int]]:
        values = self.f.get(number, [])
        if any(not isinstance(v, tuple) for v in values):
            raise self.w.fail(f"field {number} should be length-delimited")
        return values

    def sub(self, number: int) -> list["_Message"]:
        return [_Message(self.w, self.w.parse(span)) for span in self.spans(number)]

    def text(self, number: int, default: str = "") -> str:
        spans = self.spans(number)
        return self.w.text(spans[-1]) if spans else default

    def texts(self, number: int) -> list[str]:
        return [self.w.text(span) for span in self.spans(number)]

    def int(self, number: int, default: int = 0) -> int:
        values = self.f.get(number, [])
        if not values:
            return default
        if not isinstance(values[-1], int):
            raise self.w.fail(f"field {number} should be a varint")
        return _signed(values[-1])

    def ints(self, number: int) -> list[int]:
        """A repeated int64 field, packed or not."""
        out = []
        for value in self.f.get(number, []):
            if isinstance(value, int):
                out.append(_signed(value))
            elif isinstance(value, tuple):
                pos, end = value
                while pos < end:
                    item, pos = self.w.varint(pos, end)
                    out.append(_signed(item))
            else:
                raise self.w.fail(f"field {number} should hold integers")
        return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def describe_onnx(buf: bytes, name: str = "model", path: Path | None = None) -> dict[str, Any]:
    """Operators, weights, tensors and file facts of an ONNX buffer; raise ModelLoadError.
    With ``path``, external-data locations escaping the model's folder are refused too."""
    walker, top = walk_model(buf, name)
    if path is not None:
        check_external_data(walker.info, path)
    model = _Message(walker, top)
    graph = model.sub(7)[-1]
    nodes = graph.sub(1)
    initializers = {t.text(8): t for t in graph.sub(5)}
    operators: Counter[str] = Counter()
    listed: Counter[tuple[str, str]] = Counter()
    for node in nodes:
        op, domain = node.text(4), node.text(7)
        operators[op if domain in _DEFAULT_DOMAINS else f"{domain}:{op}"] += 1
        listed[(domain or "ai.onnx", op)] += 1
    granularity = _quantised_weights(nodes, initializers)
    weights = [_weight(t, granularity.get(key)) for key, t in initializers.items()]
    weights += [_weight(values) for sparse in graph.sub(15) for values in sparse.sub(1)]
    inputs = tuple(_spec(v) for v in graph.sub(11) if v.text(1) not in initializers)
    outputs = tuple(_spec(v) for v in graph.sub(12))
    metadata = dict(walker.info.metadata)
    manifest, manifest_error = None, None
    if METADATA_KEY in metadata:
        try:
            manifest = parse_manifest(metadata[METADATA_KEY])
        except ModelLoadError as exc:
            manifest_error = str(exc)
    doc = model.text(6)
    details = {
        "ir_version": model.int(1),
        "opsets": {(o.text(1) or "ai.onnx"): o.int(2) for o in model.sub(8)},
        "producer_name": model.text(2),
        "producer_version": model.text(3),
        "domain": model.text(4),
        "model_version": model.int(5),
        "doc_string": doc[:DOC_CHARS] + ("…" if len(doc) > DOC_CHARS else ""),
        "graph_name": graph.text(2),
        "nodes": len(nodes),
        "nodes_by_domain": [{"domain": d, "op": op, "count": n} for (d, op), n in sorted(listed.items())],
        "initializers": len(initializers),
        "sparse_initializers": len(graph.spans(15)),
        "functions": len(model.spans(25)),
        "external_data": bool(walker.info.external_locations),
        "metadata_props": {k: (v if k != METADATA_KEY else f"({len(v)} characters of edgekit manifest)")
                           for k, v in metadata.items()},
    }
    if manifest_error:
        details["manifest_error"] = manifest_error
    return {"operators": dict(operators), "weights": weights, "inputs": inputs, "outputs": outputs,
            "details": details, "manifest": manifest}


def _elem(code: int) -> tuple[str, int | None]:
    return _ELEM_TYPES.get(code, (f"onnx_type_{code}", None))


def _weight(tensor: _Message, granularity: str | None = None) -> Weight:
    name, bits = _elem(tensor.int(2))
    dims = tensor.ints(1)
    if any(d < 0 for d in dims):
        raise tensor.w.fail(f"initializer {tensor.text(8)!r} has a negative dimension {dims}")
    elements = 1
    for d in dims:
        elements *= d
    if bits is None:  # strings: what the file stores
        nbytes = sum(end - start for start, end in tensor.spans(6))
    else:
        nbytes = (elements * bits + 7) // 8
    return Weight(_NUMPY_NAMES.get(name, name), elements, nbytes, granularity)


def _quantised_weights(nodes: list[_Message], initializers: dict[str, _Message]) -> dict[str, str]:
    """Initializer name -> per-tensor / per-channel for integer weights of quantised ops."""
    out: dict[str, str] = {}
    for node in nodes:
        inputs = node.texts(1)
        for weight, scale, zero_point in _QUANT_INPUTS.get(node.text(4), ()):
            name = inputs[weight] if weight < len(inputs) else ""
            tensor = initializers.get(name)
            if tensor is None or _elem(tensor.int(2))[0] not in _INTEGER:
                continue
            out[name] = _granularity(inputs, initializers, scale if scale is not None else zero_point)
    return out


def _granularity(inputs: list[str], initializers: dict[str, _Message], position: int) -> str:
    tensor = initializers.get(inputs[position]) if position < len(inputs) else None
    if tensor is None:
        return UNKNOWN  # the scale is computed at run time, or absent
    elements = 1
    for d in tensor.ints(1):
        elements *= d
    return PER_CHANNEL if elements > 1 else PER_TENSOR


def _spec(value_info: _Message) -> TensorSpec:
    types = value_info.sub(2)
    dtype, shape = _type(types[-1]) if types else ("unknown", ())
    return TensorSpec(value_info.text(1), shape, dtype)


def _type(proto: _Message) -> tuple[str, tuple]:
    """(dtype as the ONNX Runtime backend names it, shape) of a TypeProto."""
    text = _type_text(proto)
    tensor = proto.sub(1)
    if not tensor:
        return text, ()
    shapes = tensor[-1].sub(2)
    dims = tuple(_dim(d) for d in shapes[-1].sub(1)) if shapes else ()
    return _ORT_TYPES.get(text, text), dims


def _type_text(proto: _Message, depth: int = 0) -> str:
    """onnxruntime's type string: tensor(float), seq(tensor(int64)), map(string,tensor(float))."""
    if depth > 16:
        raise proto.w.fail("types nested too deeply")
    for number, kind in ((1, "tensor"), (8, "sparse_tensor")):
        for tensor in proto.sub(number):
            return f"{kind}({_elem(tensor.int(1))[0]})"
    for seq in proto.sub(4):
        inner = seq.sub(1)
        return f"seq({_type_text(inner[-1], depth + 1) if inner else '?'})"
    for mapping in proto.sub(5):
        value = mapping.sub(2)
        return f"map({_elem(mapping.int(1))[0]},{_type_text(value[-1], depth + 1) if value else '?'})"
    for optional in proto.sub(9):
        inner = optional.sub(1)
        return f"optional({_type_text(inner[-1], depth + 1) if inner else '?'})"
    return "unknown"


def _dim(dim: _Message) -> int | str | None:
    if 1 in dim.f:
        value = dim.int(1)
        return value if value >= 0 else None
    param = dim.text(2)
    return param or None
