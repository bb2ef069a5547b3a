"""Open Inference Protocol (KServe V2): request tensors -> feature columns -> response.

Supports JSON tensor data (flat or nested) and Triton's binary tensor data extension
(``Inference-Header-Content-Length``: a JSON header followed by raw tensors, which is
what ``tritonclient`` sends and asks for by default). Inputs are either one tensor per
feature (``[n]`` or ``[n, 1]``; FP32 or another number type for numeric features, BYTES
for string features) or one 2-D tensor ``[n, n_features]`` in schema order. Feature
names, missing values and number parsing are then checked by the runtime's own
``to_columns``, so the server accepts exactly what an on-device ``Model.predict`` does.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any, Hashable, Iterable

import numpy as np
from pydantic import ValidationError

from edgekit.runtime.inputs import to_columns
from edgekit.runtime.schema import Schema
from edgekit.serve.errors import RequestError, UnsupportedError, validation_message
from edgekit.serve.predictors import Outputs, Predictor
from edgekit.serve.protocol import InferenceRequest, RequestInput

HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ["binary_tensor_data", "statistics"]
NUMPY_TYPES = {
    "BOOL": np.dtype("?"), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"), "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"), "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
}
NUMBER_TYPES = frozenset(NUMPY_TYPES) - {"BOOL"}
INTEGER_TYPES = frozenset(t for t in NUMBER_TYPES if "INT" in t)


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    values: np.ndarray  # flat: numbers, or objects (str / None) for BYTES


@dataclass(frozen=True)
class Decoded:
    columns: dict[str, np.ndarray]  # feature columns, or a tensor model's feeds
    rows: int
    outputs: list[tuple[str, bool]]  # (name, as binary)
    id: str | None
    key: Hashable = ()  # requests with equal keys can be batched together


# -- requests ---------------------------------------------------------------------------
def parse_request(body: bytes, header_length: str | None) -> tuple[InferenceRequest, bytes]:
    """Split the body into its JSON header and binary part (``header_length`` is the
    ``Inference-Header-Content-Length`` header, when given); validate the JSON."""
    if header_length is not None:
        try:
            header_length = int(header_length)
        except ValueError:
            header_length = -1
        if header_length < 0:
            raise RequestError(f"{HEADER_LENGTH} must be a non-negative integer")
    if header_length is None:
        head, binary = body, b""
    elif header_length > len(body):
        raise RequestError(f"{HEADER_LENGTH} is {header_length} but the body has only {len(body)} bytes")
    else:
        head, binary = body[:header_length], body[header_length:]
    try:
        return InferenceRequest.model_validate_json(head), binary
    except ValidationError as exc:
        raise RequestError(validation_message(exc)) from None


def decode_request(request: InferenceRequest, binary: bytes, predictor: Predictor) -> Decoded:
    """Tensors -> validated feature columns, plus which outputs to answer with."""
    tensors = read_tensors(request, binary)
    columns = to_columns(feature_columns(tensors, predictor.schema), predictor.schema)
    rows = len(next(iter(columns.values())))
    return Decoded(columns, rows, select_outputs(request, predictor.output_names), request.id)


def read_tensors(request: InferenceRequest, binary: bytes, *, text: bool = True) -> list[Tensor]:
    """The request's tensors; binary BYTES elements are UTF-8 text, or raw ``bytes``
    without ``text`` (encoded images)."""
    tensors, offset = [], 0
    for item in request.inputs:
        params = item.parameters or {}
        if any(str(k).startswith("shared_memory") for k in params):
            raise UnsupportedError(f"input {item.name!r}: shared memory is not supported; send the data in the request")
        count = math.prod(item.shape)
        size = params.get("binary_data_size")
        if size is not None:
            if item.data is not None:
                raise RequestError(f"input {item.name!r} has both JSON data and binary_data_size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise RequestError(f"input {item.name!r}: binary_data_size must be a non-negative integer, got {size!r}")
            chunk = binary[offset:offset + size]
            if len(chunk) < size:
                raise RequestError(f"input {item.name!r}: binary_data_size is {size} but only {len(chunk)} binary bytes remain")
            offset += size
            values = _binary_values(item, chunk, count, text)
        elif item.data is None:
            raise RequestError(f"input {item.name!r} has no data")
        else:
            values = _json_values(item, count)
        tensors.append(Tensor(item.name, item.datatype, tuple(item.shape), values))
    if offset != len(binary):
        raise RequestError(f"{len(binary) - offset} bytes of binary data belong to no input (check binary_data_size)")
    return tensors


def _binary_values(item: RequestInput, chunk: bytes, count: int, text: bool = True) -> np.ndarray:
    if item.datatype == "BYTES":
        values = _deserialize_bytes(chunk, item.name, text)
        if len(values) != count:
            raise RequestError(f"input {item.name!r}: shape {item.shape} needs {count} elements, binary data has {len(values)}")
        return values
    dtype = NUMPY_TYPES[item.datatype]
    if len(chunk) != count * dtype.itemsize:
        raise RequestError(
            f"input {item.name!r}: shape {item.shape} of {item.datatype} needs {count * dtype.itemsize} bytes, got {len(chunk)}"
        )
    return np.frombuffer(chunk, dtype=dtype)


def _deserialize_bytes(chunk: bytes, name: str, text: bool = True) -> np.ndarray:
    out, pos, end = [], 0, len(chunk)
    while pos < end:
        if pos + 4 > end:
            raise RequestError(f"input {name!r}: truncated BYTES element length")
        (n,) = struct.unpack_from("<I", chunk, pos)
        pos += 4
        if pos + n > end:
            raise RequestError(f"input {name!r}: BYTES element of {n} bytes runs past the binary data")
        try:
            out.append(chunk[pos:pos + n].decode("utf-8") if text else chunk[pos:pos + n])
        except UnicodeDecodeError:
            raise RequestError(f"input {name!r}: BYTES element {len(out)} is not UTF-8 text") from None
        pos += n
    return np.asarray(out, dtype=object)


def _json_values(item: RequestInput, count: int) -> np.ndarray:
    name, data = item.name, item.data
    if item.datatype == "BOOL":
        return _bool_values(item, count)
    if item.datatype == "BYTES":
        try:
            arr = np.asarray(data, dtype=object)
        except ValueError:
            raise RequestError(f"input {name!r}: nested data is ragged") from None
        _check_shape(item, arr, count)
        flat = arr.reshape(-1)
        for i, v in enumerate(flat.tolist()):
            if v is not None and not isinstance(v, str):
                raise RequestError(f"input {name!r} is BYTES but element {i} is {type(v).__name__} {v!r:.40}; send strings")
        return flat
    if _has_bool(data):
        raise RequestError(f"input {name!r} is {item.datatype} but its data holds true/false")
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError):
        raise RequestError(f"input {name!r}: nested data is ragged or not numbers") from None
    _check_shape(item, arr, count)
    kind = arr.dtype.kind
    if kind in "US":
        raise RequestError(f"input {name!r} is {item.datatype} but its data holds strings; send numbers (or BYTES for text)")
    if kind == "O":
        arr = _object_numbers(arr.reshape(-1), item)
    elif kind not in "iuf":
        raise RequestError(f"input {name!r} is {item.datatype} but its data is not numbers")
    flat = arr.reshape(-1)
    if item.datatype in INTEGER_TYPES and flat.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            if not np.all(np.mod(flat, 1) == 0):
                raise RequestError(f"input {name!r} is {item.datatype} but its data holds non-integers")
    return flat


def _bool_values(item: RequestInput, count: int) -> np.ndarray:
    try:
        arr = np.asarray(item.data)
    except (ValueError, TypeError):
        raise RequestError(f"input {item.name!r}: nested data is ragged") from None
    _check_shape(item, arr, count)
    if arr.size and arr.dtype != np.bool_:
        raise RequestError(f"input {item.name!r} is BOOL: send true/false")
    return arr.reshape(-1).astype(np.bool_)


def _has_bool(data: list[Any]) -> bool:
    if bool in map(type, data):
        return True
    return any(_has_bool(v) for v in data if type(v) is list)


def _object_numbers(flat: np.ndarray, item: RequestInput) -> np.ndarray:
    out = np.empty(len(flat), dtype=np.float64)
    for i, v in enumerate(flat.tolist()):
        if v is None:
            if item.datatype in INTEGER_TYPES:
                raise RequestError(f"input {item.name!r} is {item.datatype}; element {i} is null (send FP32 NaN/null for missing)")
            out[i] = np.nan
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[i] = float(v)
        else:
            raise RequestError(f"input {item.name!r} is {item.datatype} but element {i} is {type(v).__name__} {v!r:.40}")
    return out


def _check_shape(item: RequestInput, arr: np.ndarray, count: int) -> None:
    if arr.size != count:
        raise RequestError(f"input {item.name!r}: shape {item.shape} needs {count} values, data has {arr.size}")
    if arr.ndim > 1 and list(arr.shape) != list(item.shape):
        raise RequestError(f"input {item.name!r}: nested data has shape {list(arr.shape)}, declared {item.shape}")


def feature_columns(tensors: list[Tensor], schema: Schema) -> dict[str, np.ndarray]:
    """Tensors -> one flat array per named feature (names checked later by to_columns)."""
    if len(tensors) == 1 and _is_matrix(tensors[0], schema):
        return _matrix_columns(tensors[0], schema)
    columns: dict[str, np.ndarray] = {}
    for t in tensors:
        if t.name in columns:
            raise RequestError(f"input {t.name!r} is given twice")
        if len(t.shape) not in (1, 2) or (len(t.shape) == 2 and t.shape[1] != 1):
            raise RequestError(
                f"input {t.name!r} has shape {list(t.shape)}; a feature takes [n] or [n, 1] "
                f"(or send one 2-D input [n, {len(schema)}] in the order {schema.names})"
            )
        if t.name in schema:
            _check_feature_type(t, schema[t.name])
        columns[t.name] = t.values
    return columns


def _is_matrix(t: Tensor, schema: Schema) -> bool:
    return t.name not in schema and len(t.shape) == 2 and (t.shape[1] != 1 or len(schema) == 1)


def _matrix_columns(t: Tensor, schema: Schema) -> dict[str, np.ndarray]:
    width = len(schema)
    if t.shape[1] != width:
        raise RequestError(
            f"input {t.name!r} has shape {list(t.shape)}; the 2-D form takes [n, {width}] in the order {schema.names}"
        )
    if t.datatype == "BOOL":
        raise RequestError(f"input {t.name!r}: BOOL is not a feature type; send FP32 (or BYTES for text)")
    matrix = t.values.reshape(-1, width)
    return {f.name: matrix[:, j] for j, f in enumerate(schema)}


def _check_feature_type(t: Tensor, feature) -> None:
    if feature.is_string and t.datatype != "BYTES":
        raise RequestError(f"feature {feature.name!r} holds text: send it as BYTES, not {t.datatype}")
    if not feature.is_string and t.datatype not in NUMBER_TYPES:
        raise RequestError(f"feature {feature.name!r} is numeric: send FP32 (or another number type), not {t.datatype}")


def select_outputs(request: InferenceRequest, available: list[str]) -> list[tuple[str, bool]]:
    default_binary = (request.parameters or {}).get("binary_data_output", False)
    if not isinstance(default_binary, bool):
        raise RequestError(f"parameter binary_data_output must be true or false, got {default_binary!r}")
    if not request.outputs:
        return [(name, default_binary) for name in available]
    chosen: list[tuple[str, bool]] = []
    for out in request.outputs:
        if out.name not in available:
            raise RequestError(f"unknown output {out.name!r}; the model has {available}")
        if out.name in (name for name, _ in chosen):
            raise RequestError(f"output {out.name!r} is requested twice")
        params = out.parameters or {}
        if "classification" in params:
            hint = "; request 'label' and 'probabilities'" if "probabilities" in available else ""
            raise UnsupportedError(f"the classification extension is not supported{hint}")
        binary = params.get("binary_data", default_binary)
        if not isinstance(binary, bool):
            raise RequestError(f"output {out.name!r}: binary_data must be true or false, got {binary!r}")
        chosen.append((out.name, binary))
    return chosen


# -- responses --------------------------------------------------------------------------
def encode_response(outputs: Outputs, selection: list[tuple[str, bool]], *, model_name: str, model_version: str,
                    request_id: str | None, integer_labels: bool,
                    parameters: dict[str, Any] | None = None) -> tuple[bytes, dict[str, str]]:
    """The response body and extra headers (the binary header length when any output is binary)."""
    tensors = ((name, *_output_tensor(name, outputs, integer_labels), binary) for name, binary in selection)
    return encode_tensors(tensors, model_name=model_name, model_version=model_version, request_id=request_id,
                          parameters=parameters)


def encode_tensors(tensors: Iterable[tuple[str, str, list[int], np.ndarray, bool]], *, model_name: str,
                   model_version: str, request_id: str | None,
                   parameters: dict[str, Any] | None = None) -> tuple[bytes, dict[str, str]]:
    """(name, datatype, shape, array, as binary) per output -> body and extra headers."""
    entries, blobs = [], []
    for name, datatype, shape, array, binary in tensors:
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if binary:
            blob = _serialize(array, datatype)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = json_list(array)
        entries.append(entry)
    doc: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        doc["id"] = request_id
    if parameters:
        doc["parameters"] = parameters
    doc["outputs"] = entries
    head = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    if not blobs:
        return head, {}
    return head + b"".join(blobs), {HEADER_LENGTH: str(len(head))}


def _output_tensor(name: str, outputs: Outputs, integer_labels: bool) -> tuple[str, list[int], np.ndarray]:
    if name == "prediction":
        return "FP32", [len(outputs.prediction), 1], outputs.prediction.astype(np.float32)
    if name == "probabilities":
        return "FP32", list(outputs.probabilities.shape), outputs.probabilities.astype(np.float32)
    if integer_labels:
        return "INT64", [len(outputs.label)], outputs.label.astype(np.int64)
    return "BYTES", [len(outputs.label)], np.asarray([str(v) for v in outputs.label], dtype=object)


def _serialize(array: np.ndarray, datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = []
        for v in array.reshape(-1).tolist():
            b = v if isinstance(v, bytes) else v.encode("utf-8")
            parts.append(struct.pack("<I", len(b)) + b)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=NUMPY_TYPES[datatype]).tobytes()


def json_list(array: np.ndarray) -> list[Any]:
    """Flat JSON values; non-finite numbers become null (JSON has no NaN)."""
    flat = array.reshape(-1)
    if flat.dtype.kind == "O":  # text; a model's string outputs may be raw bytes
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in flat.tolist()]
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():
        return [v if math.isfinite(v) else None for v in flat.tolist()]
    return flat.tolist()


# -- metadata ---------------------------------------------------------------------------
def model_metadata(predictor: Predictor, versions: list[str]) -> dict[str, Any]:
    inputs = [
        {"name": f.name, "datatype": "BYTES" if f.is_string else "FP32", "shape": [-1, 1]}
        for f in predictor.schema
    ]
    return {
        "name": predictor.name,
        "versions": versions,
        "platform": predictor.platform,
        "inputs": inputs,
        "outputs": output_metadata(predictor),
    }


def output_metadata(predictor: Predictor) -> list[dict[str, Any]]:
    shapes = {
        "prediction": ("FP32", [-1, 1]),
        "label": ("INT64" if predictor.integer_labels else "BYTES", [-1]),
        "probabilities": ("FP32", [-1, len(predictor.labels or ())]),
    }
    return [{"name": n, "datatype": shapes[n][0], "shape": shapes[n][1]} for n in predictor.output_names]
