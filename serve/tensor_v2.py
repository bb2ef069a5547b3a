"""Open Inference Protocol (KServe V2) for a model's own tensors.

The request's tensors are read exactly as for tabular models (``v2.read_tensors``: JSON
data or Triton's binary extension), taken as the datatype the client declared, then
checked and converted by the tensor layer (``prepare_feeds``: names, rank, fixed
dimensions, safe casts; float data for an int8/uint8 input is quantised, UINT8/INT8 data
is taken as the raw integers). The answer carries each output as the backend returned it,
with its V2 datatype and shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.runtime.tensors import TensorSpec, prepare_feeds
from edgekit.serve.errors import RequestError
from edgekit.serve.protocol import InferenceRequest
from edgekit.serve.tensor_predictor import TensorOutputs, TensorPredictor
from edgekit.serve.v2 import NUMPY_TYPES, Decoded, Tensor, encode_tensors, read_tensors, select_outputs

V2_DATATYPES = {dtype.name: name for name, dtype in NUMPY_TYPES.items()} | {"string": "BYTES", "object": "BYTES"}


def v2_datatype(dtype: str) -> str:
    """A numpy dtype name (or the tensor layer's 'string') as a V2 datatype."""
    return V2_DATATYPES.get(dtype, dtype.upper())


def v2_shape(spec: TensorSpec) -> list[int]:
    return [d if isinstance(d, int) and d >= 0 else -1 for d in spec.shape]


# -- requests ---------------------------------------------------------------------------
def decode_request(request: InferenceRequest, binary: bytes, predictor: TensorPredictor) -> Decoded:
    """Request tensors -> the model's checked feeds, their rows and batching key."""
    feeds: dict[str, np.ndarray] = {}
    for tensor in read_tensors(request, binary):
        if tensor.name in feeds:
            raise RequestError(f"input {tensor.name!r} is given twice")
        feeds[tensor.name] = as_declared(tensor)
    arrays = prepare_feeds(predictor.inputs, feeds)
    feeds = {spec.name: array for spec, array in zip(predictor.inputs, arrays)}
    rows, key = predictor.rows_and_key(feeds)
    return Decoded(feeds, rows, select_outputs(request, predictor.output_names), request.id, key)


def as_declared(tensor: Tensor) -> np.ndarray:
    """The tensor's values in its declared shape and datatype; JSON numbers that do not
    fit the datatype are refused rather than wrapped or overflowed."""
    values = tensor.values
    if tensor.datatype == "BYTES":
        for i, v in enumerate(values.tolist()):
            if v is None:
                raise RequestError(f"input {tensor.name!r} is BYTES; element {i} is null")
        return values.reshape(tensor.shape)
    dtype = NUMPY_TYPES[tensor.datatype]
    if values.dtype != dtype:
        values = _cast(values, dtype, tensor)
    return values.reshape(tensor.shape)


def _cast(values: np.ndarray, dtype: np.dtype, tensor: Tensor) -> np.ndarray:
    where = f"input {tensor.name!r} is {tensor.datatype} but"
    if dtype.kind in "iu" and values.size:
        info = np.iinfo(dtype)
        low, high = values.min(), values.max()
        if low < info.min or high > info.max:
            raise RequestError(f"{where} holds {low if low < info.min else high}, outside [{info.min}, {info.max}]")
    with np.errstate(over="ignore", invalid="ignore"):
        cast = values.astype(dtype)
    if dtype.kind == "f" and values.dtype.kind == "f":
        overflow = np.isinf(cast) & np.isfinite(values)
        if overflow.any():
            raise RequestError(f"{where} holds {values[overflow][0]:g}, too large for {tensor.datatype}")
    return cast


# -- responses --------------------------------------------------------------------------
def encode_response(outputs: TensorOutputs, selection: list[tuple[str, bool]], *, model_name: str,
                    model_version: str, request_id: str | None) -> tuple[bytes, dict[str, str]]:
    tensors = []
    for name, binary in selection:
        array = np.asarray(outputs.arrays[name])
        tensors.append((name, v2_datatype(_dtype_name(array)), list(array.shape), array, binary))
    return encode_tensors(tensors, model_name=model_name, model_version=model_version, request_id=request_id)


def _dtype_name(array: np.ndarray) -> str:
    return "string" if array.dtype.kind in "OUS" else array.dtype.name


# -- metadata ---------------------------------------------------------------------------
def model_metadata(predictor: TensorPredictor, versions: list[str]) -> dict[str, Any]:
    def describe(specs):
        return [{"name": s.name, "datatype": v2_datatype(s.dtype), "shape": v2_shape(s)} for s in specs]

    return {"name": predictor.name, "versions": versions, "platform": predictor.platform,
            "inputs": describe(predictor.inputs), "outputs": describe(predictor.outputs)}
