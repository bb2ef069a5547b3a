"""Hostile variants of model files: random byte flips and truncations, foreign formats,
and structured edits made with the formats' own libraries (huge or negative dimensions,
dangling indices, truncated weight buffers, out-of-range constants, unknown ops).

Every generator is deterministic (seeded) and returns ``[(name, bytes), ...]``.
"""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile
import zlib

import numpy as np

HUGE = 2**31 - 1


# --------------------------------------------------------------------------- generic
def byte_flips(data: bytes, seed: int, count: int) -> bytes:
    rng = random.Random(seed)
    buf = bytearray(data)
    for _ in range(count):
        pos = rng.randrange(len(buf))
        buf[pos] ^= rng.randrange(1, 256)
    return bytes(buf)


def random_mutations(data: bytes, n: int, seed: int) -> list[tuple[str, bytes]]:
    """``n`` variants: byte flips (1 to 64 bytes, anywhere or in the first 256 bytes) and
    truncations (anywhere, near the start, near the end); none equal to ``data``."""
    rng = random.Random(seed)
    out: list[tuple[str, bytes]] = []
    fixed = sorted({1, 4, 7, 8, 12, 16, 32, 64, len(data) // 2, len(data) - 64, len(data) - 1})
    for length in fixed:
        if 0 < length < len(data):
            out.append((f"truncate-{length}", data[:length]))
    while len(out) < n:
        kind = rng.random()
        if kind < 0.6:
            count = rng.choice([1, 1, 2, 4, 8, 64])
            variant = byte_flips(data, rng.randrange(1 << 30), count)
            name = f"flip{count}-{len(out)}"
        elif kind < 0.7:
            buf = bytearray(data)
            pos = rng.randrange(min(256, len(buf)))
            buf[pos] ^= rng.randrange(1, 256)
            variant, name = bytes(buf), f"flip-head{pos}-{len(out)}"
        else:
            length = rng.randrange(1, len(data))
            variant, name = data[:length], f"truncate-{length}-{len(out)}"
        if variant != data:
            out.append((name, variant))
    return out[:n]


def _png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"\x00\xff\x00\x00" * 1  # one red pixel row (filter byte + RGB)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    return buf.getvalue()


def foreign_files(seed: int = 0) -> list[tuple[str, bytes]]:
    """Files that are not models at all, or only look like one in their first bytes."""
    rng = np.random.default_rng(seed)
    return [
        ("empty", b""),
        ("one-byte", b"\x08"),
        ("random-1k", rng.bytes(1024)),
        ("random-64k", rng.bytes(65536)),
        ("zeros-4k", bytes(4096)),
        ("png", _png()),
        ("zip", _zip({"config.json": b"{}", "model.weights.h5": b"\x89HDF\r\n\x1a\n"})),
        ("json", json.dumps({"format": "tflite", "schema": {"features": []}}).encode()),
        ("csv", b"a,b,c\n1,2,3\n"),
        ("gzip", zlib.compress(b"x" * 1000)),
        ("elf", b"\x7fELF\x02\x01\x01" + bytes(57)),
        ("tflite-header-only", b"\x1c\x00\x00\x00TFL3"),
        ("tflite-root-past-end", b"\xff\xff\xff\x7fTFL3" + bytes(16)),
        ("tflite-self-vtable", b"\x08\x00\x00\x00TFL3\x00\x00\x00\x00"),
        ("ort-header", b"\x00\x00\x00\x00ORTM" + rng.bytes(64)),
        ("onnx-ir-only", b"\x08\x08"),
        ("onnx-huge-length", b"\x08\x08\x3a\xff\xff\xff\xff\x0f"),
        ("onnx-endless-varint", b"\x08" + b"\xff" * 20),
        ("onnx-deep-nesting", _nested_onnx(200)),
        ("utf16-text", "model".encode("utf-16")),
    ]


def _nested_onnx(depth: int) -> bytes:
    """A ModelProto whose graph nests ``depth`` If-node subgraphs (protobuf wire format)."""

    def field(number: int, body: bytes) -> bytes:
        return _varint(number << 3 | 2) + _varint(len(body)) + body

    graph = b""
    for _ in range(depth):
        attribute = field(1, b"then_branch") + field(6, graph)  # AttributeProto.g = 6
        node = field(4, b"If") + field(5, attribute)  # NodeProto.op_type = 4, attribute = 5
        graph = field(1, node)  # GraphProto.node = 1
    return b"\x08\x08" + field(7, graph)  # ir_version 8, ModelProto.graph = 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_JSON_VALUES = (
    None,
    0,
    -1,
    2**63,
    1e308,
    float("nan"),
    "",
    "x" * 10_000,
    "../../etc/passwd",
    [],
    {},
    [None],
    {"a": 1},
    True,
    "regression",
    "classification",
    ["prediction"],
    ["label", "probabilities"],
)


def json_mutations(document: dict, n: int, seed: int) -> list[tuple[str, bytes]]:
    """``n`` structurally valid JSON variants: one value somewhere replaced by another
    type, or one key deleted. (NaN is written as the non-standard ``NaN`` Python emits.)"""
    rng = random.Random(seed)
    out = []

    def paths(node, prefix=()):
        yield prefix
        if isinstance(node, dict):
            for key, value in node.items():
                yield from paths(value, prefix + (key,))
        elif isinstance(node, list):
            for i, value in enumerate(node[:5]):
                yield from paths(value, prefix + (i,))

    all_paths = [p for p in paths(document) if p]
    while len(out) < n:
        doc = json.loads(json.dumps(document))
        path = rng.choice(all_paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and rng.random() < 0.25:
            del parent[path[-1]]
            action = "del"
        else:
            value = rng.choice(_JSON_VALUES)
            parent[path[-1]] = value
            action = type(value).__name__
        name = "json-" + "-".join(str(k)[:12] for k in path) + f"-{action}-{len(out)}"
        out.append((name, json.dumps(doc).encode()))
    return out


# --------------------------------------------------------------------------- TFLite
def tflite_structured(data: bytes) -> list[tuple[str, bytes]]:
    """Edits of a .tflite made through its flatbuffer object API, then re-packed."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    def edit(fn):
        model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
        fn(model)
        builder = flatbuffers.Builder(len(data) + 4096)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    probe = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    sg0 = probe.subgraphs[0]
    tensors = sg0.tensors
    weights = [
        i
        for i, t in enumerate(tensors)
        if probe.buffers[t.buffer].data is not None and len(probe.buffers[t.buffer].data) >= 64 and t.type in (0, 9)
    ]  # float32 / int8 weight matrices
    int_consts = [i for i, t in enumerate(tensors) if t.type == 2 and probe.buffers[t.buffer].data is not None]
    inp, out = int(sg0.inputs[0]), int(sg0.outputs[0])
    w = weights[0]
    edgekit_md = next(m.buffer for m in probe.metadata if m.name in (b"edgekit", "edgekit"))

    def tensor(model, i):
        return model.subgraphs[0].tensors[i]

    def set_shape(i, shape, signature=None):
        def fn(model):
            tensor(model, i).shape = np.asarray(shape, dtype=np.int32)
            if signature is not None or tensor(model, i).shapeSignature is not None:
                tensor(model, i).shapeSignature = np.asarray(signature if signature is not None else shape, np.int32)

        return fn

    def set_attr(obj_fn, name, value):
        def fn(model):
            setattr(obj_fn(model), name, value)

        return fn

    def set_buffer(index, payload):
        def fn(model):
            model.buffers[index].data = np.frombuffer(payload, dtype=np.uint8) if payload is not None else None

        return fn

    def weight_buffer(model):
        return model.buffers[tensor(model, w).buffer]

    def halve_weights(model):
        buf = weight_buffer(model)
        buf.data = buf.data[: len(buf.data) // 2]

    def drop_weights(model):
        weight_buffer(model).data = None

    def big_int_constant(model):
        t = tensor(model, int_consts[0])
        n = len(model.buffers[t.buffer].data) // 4
        model.buffers[t.buffer].data = np.frombuffer(np.full(n, 10**6, np.int32).tobytes(), np.uint8)

    def negative_int_constant(model):
        t = tensor(model, int_consts[0])
        n = len(model.buffers[t.buffer].data) // 4
        model.buffers[t.buffer].data = np.frombuffer(np.full(n, -(10**6), np.int32).tobytes(), np.uint8)

    def nan_weights(model):
        buf = weight_buffer(model)
        buf.data = np.frombuffer(np.full(len(buf.data) // 4, np.nan, np.float32).tobytes(), np.uint8)

    def unknown_builtin(model):
        model.operatorCodes[0].builtinCode = 10_000
        model.operatorCodes[0].deprecatedBuiltinCode = 127

    def custom_op(model):
        model.operatorCodes[0].builtinCode = 32  # CUSTOM
        model.operatorCodes[0].deprecatedBuiltinCode = 32
        model.operatorCodes[0].customCode = b"EvilOp"

    def op_version(model):
        for code in model.operatorCodes:
            code.version = 999

    def reverse_ops(model):
        model.subgraphs[0].operators = model.subgraphs[0].operators[::-1]

    def self_loop(model):
        op = model.subgraphs[0].operators[-1]
        op.inputs = np.asarray([op.outputs[0]] + list(op.inputs[1:]), np.int32)

    def manifest(payload):
        return set_buffer(edgekit_md, payload)

    def no_manifest(model):
        model.metadata = [m for m in model.metadata if m.name not in (b"edgekit", "edgekit")]

    def type_change(i, new_type):
        return set_attr(lambda m: tensor(m, i), "type", new_type)

    def quant(field, value):
        def fn(model):
            for t in model.subgraphs[0].tensors:
                if (
                    t.quantization is not None
                    and getattr(t.quantization, field) is not None
                    and len(getattr(t.quantization, field))
                ):
                    arr = getattr(t.quantization, field)
                    setattr(t.quantization, field, np.full(len(arr), value, dtype=arr.dtype))

        return fn

    def buffer_offset_past_end(model):
        buf = weight_buffer(model)
        buf.data, buf.offset, buf.size = None, 10**9, 4096

    manifest_text = bytes(probe.buffers[edgekit_md].data)
    manifest_doc = json.loads(manifest_text)
    wide = dict(
        manifest_doc,
        schema={
            "features": manifest_doc["schema"]["features"] * 1
            + [{"name": "extra", "kind": "numeric", "dtype": "float"}]
        },
    )
    edits = {
        "input-width-huge": set_shape(inp, [1, HUGE], [-1, HUGE]),
        "input-rank-5": set_shape(inp, [1, 7, 7, 7, 7], [-1, 7, 7, 7, 7]),
        "input-negative-dim": set_shape(inp, [1, -7], [-1, -7]),
        "output-shape-huge": set_shape(out, [65536, 65536]),
        "weight-shape-huge": set_shape(w, [1 << 20, 1 << 20]),
        "weight-shape-off-by-one": set_shape(w, [int(tensors[w].shape[0]), int(tensors[w].shape[-1]) + 1]),
        "weight-shape-rank-1": set_shape(w, [int(np.prod(tensors[w].shape))]),
        "weight-shape-zero": set_shape(w, [0, int(tensors[w].shape[-1])]),
        "weights-truncated": halve_weights,
        "weights-missing": drop_weights,
        "weights-nan": nan_weights,
        "weight-buffer-offset-past-end": buffer_offset_past_end,
        "int-constant-huge": big_int_constant,
        "int-constant-negative": negative_int_constant,
        "tensor-buffer-index-huge": set_attr(lambda m: tensor(m, w), "buffer", 10**6),
        "opcode-index-huge": set_attr(lambda m: m.subgraphs[0].operators[0], "opcodeIndex", 999),
        "op-input-missing-tensor": set_attr(
            lambda m: m.subgraphs[0].operators[0], "inputs", np.asarray([999], np.int32)
        ),
        "op-output-missing-tensor": set_attr(
            lambda m: m.subgraphs[0].operators[0], "outputs", np.asarray([999], np.int32)
        ),
        "op-no-inputs": set_attr(lambda m: m.subgraphs[0].operators[-1], "inputs", np.asarray([], np.int32)),
        "subgraph-input-missing": set_attr(lambda m: m.subgraphs[0], "inputs", np.asarray([999], np.int32)),
        "subgraph-two-inputs": set_attr(lambda m: m.subgraphs[0], "inputs", np.asarray([inp, w], np.int32)),
        "subgraph-no-outputs": set_attr(lambda m: m.subgraphs[0], "outputs", np.asarray([], np.int32)),
        "no-subgraphs": set_attr(lambda m: m, "subgraphs", []),
        "no-operators": set_attr(lambda m: m.subgraphs[0], "operators", []),
        "schema-version-4": set_attr(lambda m: m, "version", 4),
        "unknown-builtin-op": unknown_builtin,
        "custom-op": custom_op,
        "op-version-999": op_version,
        "ops-reversed": reverse_ops,
        "op-reads-own-output": self_loop,
        "input-type-string": type_change(inp, 5),
        "input-type-int64": type_change(inp, 4),
        "input-type-complex": type_change(inp, 8),
        "weight-type-float64": type_change(w, 10),
        "weight-type-int4": type_change(w, 17),
        "weight-type-unknown": type_change(w, 99),
        "quant-scale-zero": quant("scale", 0.0),
        "quant-scale-nan": quant("scale", np.nan),
        "quant-zero-point-huge": quant("zeroPoint", 10**12),
        "manifest-garbage": manifest(b"\xff\xfe not json"),
        "manifest-empty": manifest(None),
        "manifest-json-list": manifest(b"[1, 2, 3]"),
        "manifest-wrong-width": manifest(json.dumps(wide).encode()),
        "manifest-classification-no-labels": manifest(json.dumps(dict(manifest_doc, task="classification")).encode()),
        "manifest-future-version": manifest(json.dumps(dict(manifest_doc, manifest_version=99)).encode()),
        "manifest-removed": no_manifest,
    }
    out_files = []
    for name, fn in edits.items():
        try:
            out_files.append((name, edit(fn)))
        except Exception as exc:  # noqa: BLE001 - an edit the flatbuffer builder refuses: not a file
            out_files.append((name + "-unbuildable", f"unbuildable: {exc}".encode()))
    return out_files


# --------------------------------------------------------------------------- ONNX
def onnx_structured(data: bytes) -> list[tuple[str, bytes]]:
    """Edits of an .onnx made with the onnx package (no checker: hostile files skip it)."""
    import onnx
    from onnx import helper, numpy_helper

    def edit(fn):
        model = onnx.ModelProto()
        model.ParseFromString(data)
        fn(model)
        return model.SerializeToString()

    probe = onnx.ModelProto()
    probe.ParseFromString(data)

    def first_node(model, op_type=None):
        return next(n for n in model.graph.node if op_type is None or n.op_type == op_type)

    def attr(model, name):
        for node in model.graph.node:
            for a in node.attribute:
                if a.name == name:
                    return a
        raise KeyError(name)

    def has_attr(name):
        return any(a.name == name for n in probe.graph.node for a in n.attribute)

    def dim(i, value):
        def fn(model):
            model.graph.input[i].type.tensor_type.shape.dim[-1].dim_value = value

        return fn

    def init_dims(dims):
        def fn(model):
            init = model.graph.initializer[-1]
            del init.dims[:]
            init.dims.extend(dims)

        return fn

    def init_values(value):
        def fn(model):
            for init in model.graph.initializer:
                if init.data_type == onnx.TensorProto.INT64:
                    arr = numpy_helper.to_array(init)
                    init.CopyFrom(numpy_helper.from_array(np.full_like(arr, value), init.name))

        return fn

    def init_type(new_type):
        def fn(model):
            model.graph.initializer[0].data_type = new_type

        return fn

    def truncate_floats(name, keep):
        def fn(model):
            a = attr(model, name)
            values = list(a.floats)[:keep]
            del a.floats[:]
            a.floats.extend(values)

        return fn

    def set_int_attr(name, value):
        def fn(model):
            attr(model, name).i = value

        return fn

    def set_ints(name, values):
        def fn(model):
            a = attr(model, name)
            del a.ints[:]
            a.ints.extend(values)

        return fn

    def clear_strings(name):
        def fn(model):
            del attr(model, name).strings[:]

        return fn

    def op_type(value, domain=None):
        def fn(model):
            node = model.graph.node[-1]
            node.op_type = value
            if domain is not None:
                node.domain = domain

        return fn

    def opset(version):
        def fn(model):
            for o in model.opset_import:
                o.version = version

        return fn

    def dangling_input(model):
        model.graph.node[0].input[0] = "no_such_tensor"

    def drop_nodes(model):
        del model.graph.node[:]

    def drop_last_node(model):
        del model.graph.node[-1]

    def cycle(model):
        first, last = model.graph.node[0], model.graph.node[-1]
        first.input.append(last.output[0])

    def elem_type(value):
        def fn(model):
            model.graph.input[0].type.tensor_type.elem_type = value

        return fn

    def manifest(value):
        def fn(model):
            for prop in model.metadata_props:
                if prop.key == "edgekit":
                    prop.value = value

        return fn

    def no_manifest(model):
        kept = [p for p in model.metadata_props if p.key != "edgekit"]
        del model.metadata_props[:]
        model.metadata_props.extend(kept)

    def huge_constant(model):
        # A Constant node declaring a 2^40-element tensor with almost no data.
        tensor = onnx.TensorProto(name="c", data_type=onnx.TensorProto.FLOAT, dims=[1 << 40], raw_data=bytes(4))
        node = helper.make_node("Constant", [], ["huge_constant"], value=tensor)
        model.graph.node.insert(0, node)

    def expand_bomb(model):
        # A legitimate-looking op that asks for 2^40 floats at run time.
        shape = numpy_helper.from_array(np.asarray([1 << 20, 1 << 20], np.int64), "bomb_shape")
        model.graph.initializer.append(shape)
        name = model.graph.output[0].name
        last = next(n for n in model.graph.node if name in n.output)
        last.output[list(last.output).index(name)] = "pre_bomb"
        model.graph.node.append(helper.make_node("Expand", ["pre_bomb", "bomb_shape"], [name]))

    def concat_axis(model):
        for node in model.graph.node:
            if node.op_type == "Concat":
                for a in node.attribute:
                    if a.name == "axis":
                        a.i = 7

    def cast_to(model):
        for node in model.graph.node:
            if node.op_type == "Cast":
                node.attribute[0].i = 999
                return

    manifest_doc = json.loads(next(p.value for p in probe.metadata_props if p.key == "edgekit"))
    edits = {
        "input-dim-huge": dim(0, 1 << 62),
        "input-dim-zero": dim(0, 0),
        "input-dim-negative": dim(0, -5),
        "input-type-string": elem_type(onnx.TensorProto.STRING),
        "input-type-double": elem_type(onnx.TensorProto.DOUBLE),
        "input-type-undefined": elem_type(0),
        "initializer-dims-huge": init_dims([1 << 40]),
        "initializer-dims-negative": init_dims([-1, 3]),
        "initializer-int-values-huge": init_values(1 << 40),
        "initializer-int-values-negative": init_values(-(1 << 40)),
        "initializer-type-string": init_type(onnx.TensorProto.STRING),
        "initializer-type-bogus": init_type(99),
        "constant-node-huge-dims": huge_constant,
        "expand-to-2^40": expand_bomb,
        "unknown-op": op_type("DefinitelyNotAnOp"),
        "unknown-domain": op_type("Gemm", "evil.example"),
        "opset-9999": opset(9999),
        "opset-1": opset(1),
        "ir-version-99": lambda m: setattr(m, "ir_version", 99),
        "dangling-node-input": dangling_input,
        "no-nodes": drop_nodes,
        "graph-output-unproduced": drop_last_node,
        "graph-cycle": cycle,
        "concat-axis-7": concat_axis,
        "cast-to-999": cast_to,
        "manifest-garbage": manifest("{not json"),
        "manifest-json-list": manifest("[1, 2]"),
        "manifest-schema-wrong-type": manifest(json.dumps(dict(manifest_doc, schema={"features": "abc"}))),
        "manifest-extra-feature": manifest(
            json.dumps(
                dict(
                    manifest_doc,
                    schema={
                        "features": manifest_doc["schema"]["features"]
                        + [{"name": "extra", "kind": "numeric", "dtype": "float"}]
                    },
                )
            )
        ),
        "manifest-outputs-renamed": manifest(
            json.dumps(dict(manifest_doc, outputs=["label"], task="classification", labels=["a"]))
        ),
        "manifest-removed": no_manifest,
    }
    # ai.onnx.ml attribute edits, for whichever of these ops the model has.
    for name, keep in (
        ("coefficients", 3),
        ("support_vectors", 5),
        ("offset", 1),
        ("scale", 1),
        ("imputed_value_floats", 0),
        ("intercepts", 1),
        ("kernel_params", 0),
        ("rho", 0),
    ):
        if has_attr(name):
            edits[f"attr-{name}-truncated"] = truncate_floats(name, keep)
    for name, value in (("n_supports", 1 << 30), ("n_supports", -1), ("multi_class", 99)):
        if has_attr(name):
            edits[f"attr-{name}-{value}"] = set_int_attr(name, value)
    for name in ("cats_int64s", "classlabels_ints", "keys_int64s", "values_int64s"):
        if has_attr(name):
            edits[f"attr-{name}-empty"] = set_ints(name, [])
            edits[f"attr-{name}-huge"] = set_ints(name, [1 << 62] * 3)
    for name in ("cats_strings", "keys_strings", "values_strings"):
        if has_attr(name):
            edits[f"attr-{name}-empty"] = clear_strings(name)
    out_files = []
    for name, fn in edits.items():
        try:
            out_files.append((name, edit(fn)))
        except Exception as exc:  # noqa: BLE001 - an edit the protobuf library refuses: not a file
            out_files.append((name + "-unbuildable", f"unbuildable: {exc}".encode()))
    return out_files
