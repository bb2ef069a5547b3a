"""Static facts about any .tflite file, read with the bounds-checked flatbuffer reader.

Operators come from the opcode table, resolved as LiteRT's ``GetBuiltinCode`` does (the
larger of ``deprecated_builtin_code`` and ``builtin_code``: codes past 127 only fit the
second field); custom operators are named by their custom code. Each (operator, version)
pair is looked up in LiteRT's own table of first supporting releases, so the oldest
runtime that can load the file follows from the file alone, and pairs the table does not
know stay unknown. Inputs and outputs are named as the LiteRT backend names them: by the
signature's keys when the primary subgraph has a signature, by tensor names otherwise.
Field numbers follow ``schema.fbs``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from edgekit.runtime.errors import ModelLoadError
from edgekit.runtime.inspect_report import PER_CHANNEL, PER_TENSOR, Weight
from edgekit.runtime.inspect_tflite_data import BUILTIN_OPERATORS, MIN_RUNTIME, release_key
from edgekit.runtime.manifest import METADATA_KEY, parse_manifest
from edgekit.runtime.tensors import Quantization, TensorSpec
from edgekit.runtime.tflite_file import _Reader, buffer_span, inspect_tflite

_CUSTOM = 32
# TensorType -> (dtype name as numpy spells it, bits per element; None: variable size)
_TYPES = {0: ("float32", 32), 1: ("float16", 16), 2: ("int32", 32), 3: ("uint8", 8), 4: ("int64", 64),
          5: ("string", None), 6: ("bool", 8), 7: ("int16", 16), 8: ("complex64", 64), 9: ("int8", 8),
          10: ("float64", 64), 11: ("complex128", 128), 12: ("uint64", 64), 13: ("resource", None),
          14: ("variant", None), 15: ("uint32", 32), 16: ("uint16", 16), 17: ("int4", 4), 18: ("bfloat16", 16),
          19: ("int2", 2), 20: ("uint4", 4), 21: ("float8_e4m3fn", 8), 22: ("float8_e5m2", 8)}
_MODEL_TYPES = {0: "NONE", 1: "TF_SAVED_MODEL", 2: "KERAS_MODEL", 3: "TF_CONCRETE_FUNCTIONS", 4: "TF_GRAPH_DEF",
                5: "TF_SESSION", 6: "JAX", 7: "PYTORCH"}
_OPTIMIZATIONS = {1001: "PTQ_FLOAT16", 1002: "PTQ_DYNAMIC_RANGE", 1003: "PTQ_FULL_INTEGER", 1004: "PTQ_INT16",
                  2000: "QUANTIZATION_AWARE_TRAINING", 3001: "RANDOM_SPARSITY", 3002: "BLOCK_SPARSITY",
                  3003: "STRUCTURED_SPARSITY"}
MIN_RUNTIME_KEY = "min_runtime_version"
CONVERSION_KEY = "CONVERSION_METADATA"


def describe_tflite(buf: bytes, name: str = "model") -> dict[str, Any]:
    """Operators, weights, tensors and file facts of a .tflite buffer; raise ModelLoadError."""
    checked = inspect_tflite(buf, name)  # structure, indices and quantisation already verified
    r = _Reader(buf, name)
    root = r.deref(0)
    buffers = r.tables(root, 4)
    codes = [_opcode(r, oc) for oc in r.tables(root, 1)]
    subgraphs = r.tables(root, 2)
    operators: Counter[str] = Counter()
    versions: Counter[tuple[str, int, bool]] = Counter()
    weights: dict[int, Weight] = {}  # by buffer: weights shared between subgraphs count once
    subgraph_facts, tensor_tables = [], []
    for sg in subgraphs:
        tensors = r.tables(sg, 0)
        tensor_tables.append(tensors)
        ops = r.tables(sg, 3)
        for op in ops:
            code = codes[r.scalar(op, 0, "<I")]
            operators[code[0]] += 1
            versions[code] += 1
        for t in tensors:
            index = r.scalar(t, 2, "<I")
            if index not in weights:
                start, length = buffer_span(r, buffers[index])
                if length:
                    weights[index] = _weight(r, t, length)
        subgraph_facts.append({"name": r.string(sg, 4), "operators": len(ops), "tensors": len(tensors)})
    op_versions = [{"op": op, "version": version, "custom": custom, "count": count,
                    "min_runtime": None if custom else MIN_RUNTIME.get((op, version))}
                   for (op, version, custom), count in sorted(versions.items())]
    signatures = [_signature(r, sd, tensor_tables) for sd in r.tables(root, 7)]
    inputs, outputs = _io_specs(r, subgraphs[0], tensor_tables[0], signatures)
    metadata, manifest = _metadata(checked.metadata, name)
    details = {
        "schema_version": checked.version,
        "description": r.string(root, 3),
        "subgraphs": subgraph_facts,
        "op_versions": op_versions,
        "min_runtime": oldest_runtime(op_versions),
        "signatures": signatures,
        "metadata": metadata,
    }
    return {"operators": dict(operators), "weights": list(weights.values()), "inputs": inputs, "outputs": outputs,
            "details": details, "manifest": manifest}


def oldest_runtime(op_versions: list[dict[str, Any]]) -> dict[str, Any]:
    """The first TFLite runtime release that supports every operator version in the file.

    ``release`` is the newest of the known per-op releases (as the converter computes its
    ``min_runtime_version``); ``unknown`` lists the ops the table cannot place, in which
    case ``release`` is only a lower bound (``complete`` is false)."""
    known = [(v["min_runtime"], f"{v['op']} v{v['version']}") for v in op_versions if v["min_runtime"]]
    unknown = [f"{v['op']} v{v['version']}" + (" (custom)" if v["custom"] else "")
               for v in op_versions if not v["min_runtime"]]
    release = max((rel for rel, _ in known), key=release_key, default=None)
    needed_by = [what for rel, what in known if release and release_key(rel) == release_key(release)]
    return {"release": release, "needed_by": needed_by, "unknown": unknown, "complete": not unknown}


def runtime_can_load(min_runtime: dict[str, Any], release: str) -> bool | None:
    """Whether TFLite runtime ``release`` supports every op: False when some op needs a
    newer release, True when all ops are known and old enough, None when it cannot be told."""
    if min_runtime.get("release") and release_key(release) < release_key(min_runtime["release"]):
        return False
    return True if min_runtime.get("complete") else None


def _opcode(r: _Reader, oc: int) -> tuple[str, int, bool]:
    """(name, version, custom) of one OperatorCode table."""
    deprecated = r.scalar(oc, 0, "<b")
    builtin = r.scalar(oc, 3, "<i")
    version = r.scalar(oc, 2, "<i", 1)
    code = max(deprecated, builtin)
    if code == _CUSTOM:
        return (r.string(oc, 1) or "CUSTOM"), version, True
    if 0 <= code < len(BUILTIN_OPERATORS):
        return BUILTIN_OPERATORS[code], version, False
    return f"BUILTIN_{code}", version, False  # newer than our copy of the enum


def _dtype(r: _Reader, tensor: int) -> tuple[str, int | None]:
    code = r.scalar(tensor, 1, "<b")
    return _TYPES.get(code, (f"tensor_type_{code}", None))


def _weight(r: _Reader, tensor: int, length: int) -> Weight:
    dtype, bits = _dtype(r, tensor)
    shape = r.ints(tensor, 0)
    elements = 1
    for dim in shape:
        elements *= dim
    if elements < 0 and bits:  # a -1 in a constant's shape: count what the buffer holds
        elements = length * 8 // bits
    granularity = None
    quantization = r.table(tensor, 4)
    if quantization is not None and dtype not in ("float32", "float16", "float64", "bfloat16"):
        n_scales = len(r.floats(quantization, 2))
        granularity = PER_CHANNEL if n_scales > 1 else PER_TENSOR if n_scales == 1 else None
    return Weight(dtype, max(elements, 0), length, granularity)


def _spec(r: _Reader, tensor: int, name: str | None = None) -> TensorSpec:
    shape, signature = r.ints(tensor, 0), r.ints(tensor, 7)
    dims = signature if signature and len(signature) == len(shape) else shape
    quantization = None
    q = r.table(tensor, 4)
    if q is not None:
        scales = r.floats(q, 2)
        if scales:
            points = r.longs(q, 3) or (0,) * len(scales)
            quantization = Quantization(tuple(float(s) for s in scales), tuple(int(z) for z in points),
                                        r.scalar(q, 6, "<i"))
    return TensorSpec(r.string(tensor, 3) if name is None else name, tuple(None if d < 0 else d for d in dims),
                      _dtype(r, tensor)[0], quantization)


def _signature(r: _Reader, sd: int, tensor_tables: list[list[int]]) -> dict[str, Any]:
    key, subgraph = r.string(sd, 2), r.scalar(sd, 4, "<I")
    if subgraph >= len(tensor_tables):
        raise r.fail(f"signature {key!r} refers to missing subgraph {subgraph}")
    tensors = tensor_tables[subgraph]

    def entries(index: int) -> list[dict[str, Any]]:
        out = []
        for tm in r.tables(sd, index):
            tensor = r.scalar(tm, 1, "<I")
            if tensor >= len(tensors):
                raise r.fail(f"signature {key!r} refers to missing tensor {tensor}")
            out.append({"name": r.string(tm, 0), "tensor": tensor})
        # LiteRT keeps a signature's tensors in a std::map: ordered by name.
        return sorted(out, key=lambda e: e["name"].encode())

    return {"key": key, "subgraph": subgraph, "inputs": entries(0), "outputs": entries(1)}


def _io_specs(r: _Reader, sg: int, tensors: list[int], signatures: list[dict[str, Any]]):
    """Inputs and outputs as the LiteRT backend reports them (see backends/litert.py)."""
    primary = [s for s in signatures if s["subgraph"] == 0]
    chosen = primary[0] if primary else (signatures[0] if signatures else None)
    if chosen is not None and chosen["subgraph"] == 0:
        return (tuple(_spec(r, tensors[e["tensor"]], e["name"]) for e in chosen["inputs"]),
                tuple(_spec(r, tensors[e["tensor"]], e["name"]) for e in chosen["outputs"]))
    return tuple(_spec(r, tensors[i]) for i in r.ints(sg, 1)), tuple(_spec(r, tensors[i]) for i in r.ints(sg, 2))


def _metadata(entries: dict[str, bytes], name: str) -> tuple[list[dict[str, Any]], Any]:
    """Each metadata entry's name and size, with the ones we understand decoded."""
    rows, manifest = [], None
    for key, blob in entries.items():
        row: dict[str, Any] = {"name": key, "bytes": len(blob)}
        if key == METADATA_KEY:
            try:
                manifest = parse_manifest(blob)
                row["value"] = f"edgekit {getattr(manifest, 'kind', 'tabular')} manifest"
            except ModelLoadError as exc:
                row["error"] = str(exc)
        elif key == MIN_RUNTIME_KEY:
            row["value"] = blob.split(b"\0", 1)[0].decode("ascii", errors="replace")
        elif key == CONVERSION_KEY:
            try:
                row["value"] = _conversion_metadata(blob, name)
            except ModelLoadError as exc:
                row["error"] = str(exc)
        rows.append(row)
    return rows, manifest


def _conversion_metadata(blob: bytes, name: str) -> dict[str, Any]:
    """The converter's ConversionMetadata flatbuffer (conversion_metadata.fbs)."""
    r = _Reader(blob, f"{name}: {CONVERSION_KEY}")
    root = r.deref(0)
    out: dict[str, Any] = {}
    env = r.table(root, 0)
    if env is not None:
        out["tensorflow_version"] = r.string(env, 0) or None
        out["api_version"] = r.scalar(env, 1, "<I")
        out["model_type"] = _MODEL_TYPES.get(r.scalar(env, 2, "<i"), "unknown")
        out["model_hash"] = r.scalar(env, 3, "<Q")
    options = r.table(root, 1)
    if options is not None:
        out["optimizations"] = [_OPTIMIZATIONS.get(m, str(m)) for m in r.ints(options, 0)]
        out["allow_custom_ops"] = bool(r.scalar(options, 1, "<B"))
        out["enable_select_tf_ops"] = bool(r.scalar(options, 2, "<B"))
        out["force_select_tf_ops"] = bool(r.scalar(options, 3, "<B"))
    return out
