"""TensorFlow Serving's REST predict API: ``{"instances": ...}`` and ``{"inputs": ...}``.

Each feature is a ``[n, 1]`` input of the model, so a row may give a feature as a value
or as a one-element list, exactly like TF Serving accepts for such a signature. Rows may
also be plain lists in schema order (the single 2-D input form). Answers follow TF
Serving: the row format gets ``predictions`` (one entry per row: ``[value]`` for the
single regression output, an object of named outputs for classification), the columnar
format gets ``outputs`` (the bare list for a single output, else a map by name).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import ValidationError

from edgekit.runtime.inputs import to_columns
from edgekit.runtime.schema import Schema
from edgekit.serve.errors import RequestError, validation_message
from edgekit.serve.predictors import Outputs, Predictor
from edgekit.serve.protocol import SIGNATURE, PredictRequest
from edgekit.serve.v2 import json_list


def parse_request(body: bytes, signatures: tuple[str, ...] = (SIGNATURE,)) -> PredictRequest:
    """Validate the body; ``signatures`` are the names the served signature answers to."""
    try:
        request = PredictRequest.model_validate_json(body)
    except ValidationError as exc:
        raise RequestError(validation_message(exc)) from None
    if request.signature_name not in ("", *signatures):
        raise RequestError(f"unknown signature_name {request.signature_name!r}; the model has {signatures[0]!r}")
    if (request.instances is None) == (request.inputs is None):
        raise RequestError('give exactly one of "instances" (row format) or "inputs" (columnar format)')
    return request


def decode_request(request: PredictRequest, schema: Schema) -> tuple[dict[str, np.ndarray], str]:
    """Validated columns and the format ('row' or 'columnar') to answer in."""
    if request.instances is not None:
        return to_columns(_rows(request.instances, schema), schema), "row"
    inputs = request.inputs
    if isinstance(inputs, dict):
        return to_columns({name: _column(name, values) for name, values in inputs.items()}, schema), "columnar"
    return to_columns(_rows(inputs, schema), schema), "columnar"


def _rows(instances: list[Any], schema: Schema):
    if not instances:
        raise RequestError("no instances to predict")
    if all(isinstance(row, dict) for row in instances):
        return [{name: _scalar(value, name, i) for name, value in row.items()} for i, row in enumerate(instances)]
    if any(isinstance(row, dict) for row in instances):
        raise RequestError("instances mix objects and lists; use one form for every row")
    if len(schema) == 1 and not any(isinstance(row, list) for row in instances):
        return {schema.names[0]: _column(schema.names[0], instances)}
    width = len(schema)
    for i, row in enumerate(instances):
        if not isinstance(row, list) or len(row) != width:
            raise RequestError(
                f"instance {i} must be an object of feature -> value, or a list of {width} values in the order {schema.names}"
            )
    matrix = np.empty((len(instances), width), dtype=object)
    for i, row in enumerate(instances):
        matrix[i] = [_scalar(v, schema.names[j], i) for j, v in enumerate(row)]
    return {f.name: matrix[:, j] for j, f in enumerate(schema)}


def _scalar(value: Any, name: str, row: int) -> Any:
    if isinstance(value, list):
        if len(value) != 1:
            raise RequestError(f"instance {row}: feature {name!r} takes one value (or a one-element list), got {len(value)}")
        value = value[0]
    if isinstance(value, (list, dict)):
        raise RequestError(f"instance {row}: feature {name!r} has a nested {type(value).__name__}")
    return value


def _column(name: str, values: Any) -> Any:
    if not isinstance(values, list):
        return [_scalar(values, name, 0)]
    return [_scalar(v, name, i) for i, v in enumerate(values)]


def encode_response(outputs: Outputs, fmt: str, predictor: Predictor) -> dict[str, Any]:
    names = predictor.output_names
    columns = {name: _values(name, outputs) for name in names}
    if fmt == "columnar":
        return {"outputs": columns[names[0]] if len(names) == 1 else columns}
    if len(names) == 1:
        return {"predictions": columns[names[0]]}
    rows = zip(*(columns[n] for n in names), strict=True)
    return {"predictions": [dict(zip(names, row, strict=True)) for row in rows]}


def _values(name: str, outputs: Outputs) -> list[Any]:
    if name == "prediction":
        return [[v] for v in json_list(outputs.prediction.astype(np.float32))]
    if name == "probabilities":
        k = outputs.probabilities.shape[1]
        flat = json_list(outputs.probabilities.astype(np.float32))
        return [flat[i:i + k] for i in range(0, len(flat), k)]
    return [_label(v) for v in outputs.label.tolist()]


def _label(value: Any) -> Any:
    if isinstance(value, (str, int, float)) or value is None:
        return value
    return str(value)


def model_status(version: str) -> dict[str, Any]:
    return {"model_version_status": [
        {"version": version, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]}


def signature_metadata(predictor: Predictor, version: str) -> dict[str, Any]:
    """A TF Serving ``GetModelMetadata`` answer describing the serving signature."""
    inputs = [(f.name, "DT_STRING" if f.is_string else "DT_FLOAT", [-1, 1]) for f in predictor.schema]
    kinds = {
        "prediction": ("DT_FLOAT", [-1, 1]),
        "label": ("DT_INT64" if predictor.integer_labels else "DT_STRING", [-1]),
        "probabilities": ("DT_FLOAT", [-1, len(predictor.labels or ())]),
    }
    outputs = [(n, *kinds[n]) for n in predictor.output_names]
    return signature_document(predictor.name, version, inputs, outputs)


def signature_document(name: str, version: str, inputs: list[tuple[str, str, list[int]]],
                       outputs: list[tuple[str, str, list[int]]], signature: str = SIGNATURE) -> dict[str, Any]:
    """The ``GetModelMetadata`` document for (name, DT_ type, dims) inputs and outputs."""
    def tensor(tensor_name: str, dtype: str, dims: list[int]) -> dict[str, Any]:
        return {"dtype": dtype, "tensor_shape": {"dim": [{"size": str(d), "name": ""} for d in dims],
                                                  "unknown_rank": False}, "name": tensor_name}

    return {
        "model_spec": {"name": name, "signature_name": "", "version": version},
        "metadata": {"signature_def": {"signature_def": {signature: {
            "inputs": {n: tensor(n, *rest) for n, *rest in inputs},
            "outputs": {n: tensor(n, *rest) for n, *rest in outputs},
            "method_name": "tensorflow/serving/predict",
        }}}},
    }
