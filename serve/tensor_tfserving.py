"""TensorFlow Serving's REST predict API for a model's own tensors.

As TF Serving defines it: the row format ``{"instances": [...]}`` lists one entry per row
along the batch dimension (a value for a one-input model, else an object of input name ->
value) and is answered with ``predictions`` (per row: the value of a one-output model, else
an object by output name); the columnar format ``{"inputs": value-or-object}`` gives whole
tensors and is answered with ``outputs`` the same way. JSON numbers go through the tensor
layer's checks as the runtime's ``run`` takes them (floats into an int8/uint8 input are
quantised, integers are the raw values).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgekit.runtime.errors import SchemaError
from edgekit.runtime.tensors import TensorSpec, prepare_feeds
from edgekit.serve.errors import RequestError
from edgekit.serve.protocol import SIGNATURE, PredictRequest
from edgekit.serve.tensor_predictor import TensorOutputs, TensorPredictor
from edgekit.serve.tensor_v2 import v2_shape
from edgekit.serve.tfserving import signature_document

TF_DATATYPES = {
    "bool": "DT_BOOL", "int8": "DT_INT8", "uint8": "DT_UINT8", "int16": "DT_INT16", "uint16": "DT_UINT16",
    "int32": "DT_INT32", "uint32": "DT_UINT32", "int64": "DT_INT64", "uint64": "DT_UINT64",
    "float16": "DT_HALF", "float32": "DT_FLOAT", "float64": "DT_DOUBLE", "string": "DT_STRING",
}


def decode_request(request: PredictRequest, predictor: TensorPredictor) -> tuple[dict[str, np.ndarray], str]:
    """Checked feeds and the format ('row' or 'columnar') to answer in."""
    names = [s.name for s in predictor.inputs]
    if request.instances is not None:
        if not predictor.batchable:
            raise RequestError('this model has no batch dimension, so it takes no "instances"; send the whole '
                               'tensors in the columnar format {"inputs": {name: value}}')
        feeds, fmt = _stack_instances(request.instances, names), "row"
    else:
        inputs, fmt = request.inputs, "columnar"
        if isinstance(inputs, dict):
            feeds = inputs
        elif len(names) == 1:
            feeds = {names[0]: inputs}
        else:
            raise RequestError(f'the model has inputs {names}: "inputs" must be an object of input name -> value')
    arrays = prepare_feeds(predictor.inputs, {name: _array(value, name) for name, value in feeds.items()})
    return {spec.name: array for spec, array in zip(predictor.inputs, arrays)}, fmt


def _stack_instances(instances: list[Any], names: list[str]) -> dict[str, list[Any]]:
    if not any(isinstance(row, dict) for row in instances):
        if len(names) != 1:
            raise RequestError(f"the model has inputs {names}: each instance must be an object of input name -> value")
        return {names[0]: instances}
    if not all(isinstance(row, dict) for row in instances):
        raise RequestError("instances mix objects and values; use one form for every row")
    columns: dict[str, list[Any]] = {}
    for i, row in enumerate(instances):
        if i and row.keys() != columns.keys():
            raise RequestError(f"instance {i} names inputs {sorted(row)}, instance 0 {sorted(columns)}")
        for name, value in row.items():
            columns.setdefault(name, []).append(value)
    return columns


def _array(value: Any, name: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        raise SchemaError(f"input {name!r}: the value is ragged (rows of different lengths)") from None
    if array.dtype.kind == "O":
        raise SchemaError(f"input {name!r}: the value is ragged or mixes types; give a regular array of numbers or strings")
    return array.astype(object) if array.dtype.kind == "U" else array


def encode_response(outputs: TensorOutputs, fmt: str, predictor: TensorPredictor) -> dict[str, Any]:
    names = predictor.output_names
    if fmt == "columnar":
        values = {n: nested_json(outputs.arrays[n]) for n in names}
        return {"outputs": values[names[0]] if len(names) == 1 else values}
    for n in names:
        array = outputs.arrays[n]
        if array.ndim == 0 or array.shape[0] != outputs.rows:
            raise RequestError(f'output {n!r} has shape {list(array.shape)}, not one entry per instance; '
                               'use the columnar format {"inputs": ...}')
    rows = [nested_json(outputs.arrays[n]) for n in names]
    if len(names) == 1:
        return {"predictions": rows[0]}
    return {"predictions": [dict(zip(names, row, strict=True)) for row in zip(*rows, strict=True)]}


def nested_json(array: np.ndarray) -> Any:
    """An array as nested JSON values: NaN/inf as null, bytes as text."""
    array = np.asarray(array)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        return _map(array.tolist(), lambda v: v if math.isfinite(v) else None)
    if array.dtype.kind == "O":
        return _map(array.tolist(), lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
    return array.tolist()


def _map(value: Any, fn) -> Any:
    return [_map(v, fn) for v in value] if isinstance(value, list) else fn(value)


def signature_metadata(predictor: TensorPredictor, version: str) -> dict[str, Any]:
    def tensors(specs: tuple[TensorSpec, ...]) -> list[tuple[str, str, list[int]]]:
        return [(s.name, TF_DATATYPES.get(s.dtype, "DT_INVALID"), v2_shape(s)) for s in specs]

    return signature_document(predictor.name, version, tensors(predictor.inputs), tensors(predictor.outputs),
                              signature=predictor.signature or SIGNATURE)
