"""Request and response models of the two REST protocols the server speaks.

Open Inference Protocol (KServe V2, as Triton implements it) and TensorFlow Serving's
REST API. The request models validate the JSON part of a request; the response models
document what the server sends (responses are encoded by hand for speed, so these only
feed the OpenAPI document). Extra request fields are ignored, as Triton does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

# V2 tensor datatypes edgekit reads (not BF16).
Datatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
]
Dim = Annotated[int, Strict(), Field(ge=0)]
Parameters = dict[str, Any]
MAX_RANK = 8
SIGNATURE = "serving_default"


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- Open Inference Protocol (V2) ------------------------------------------------------
class RequestInput(_Request):
    """One input tensor. ``data`` is row-major, flat or nested; it is absent when the
    tensor travels in the binary part of the body (``parameters.binary_data_size``)."""

    name: str = Field(min_length=1, max_length=256)
    shape: list[Dim] = Field(max_length=MAX_RANK)  # [] for a scalar tensor
    datatype: Datatype
    parameters: Parameters | None = None
    data: list[Any] | None = None


class RequestOutput(_Request):
    name: str = Field(min_length=1, max_length=256)
    parameters: Parameters | None = None


class InferenceRequest(_Request):
    """For a tabular model either one input per feature (shape ``[n]`` or ``[n, 1]``) or
    a single 2-D input ``[n, n_features]`` in schema order (any name that is not a
    feature, e.g. ``x``); for a model file served as tensors, one input per model input,
    by name, in the shape and datatype ``GET /v2/models/{name}`` reports."""

    id: str | None = Field(default=None, max_length=256)
    parameters: Parameters | None = None
    inputs: list[RequestInput] = Field(min_length=1, max_length=4096)
    outputs: list[RequestOutput] | None = Field(default=None, max_length=16)


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[Any] | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: Parameters | None = None
    outputs: list[ResponseOutput]


class ErrorResponse(BaseModel):
    """Every error, in both protocols: ``{"error": "<what was wrong>"}``."""

    error: str


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class Liveness(BaseModel):
    live: bool


class Readiness(BaseModel):
    ready: bool
    name: str | None = None


class Duration(BaseModel):
    count: int
    ns: int


class InferenceStats(BaseModel):
    success: Duration
    fail: Duration
    queue: Duration
    compute_infer: Duration


class BatchStat(BaseModel):
    batch_size: int
    compute_infer: Duration


class Batching(BaseModel):
    """edgekit's own summary of dynamic batching (not part of Triton's statistics)."""

    enabled: bool
    max_batch_size: int
    max_delay_ms: float
    requests: int
    rows: int
    batches: int
    mean_requests_per_batch: float
    max_requests_per_batch: int
    mean_rows_per_batch: float
    max_rows_per_batch: int
    requests_per_batch: dict[str, int]


class ModelStats(BaseModel):
    name: str
    version: str
    last_inference: int
    inference_count: int
    execution_count: int
    inference_stats: InferenceStats
    batch_stats: list[BatchStat]
    batching: Batching


class StatisticsResponse(BaseModel):
    """Triton's statistics extension: ``tritonclient`` ``get_inference_statistics``."""

    model_stats: list[ModelStats]


# -- TensorFlow Serving REST API -----------------------------------------------------
class PredictRequest(_Request):
    """Row format ``{"instances": [{feature: value, ...}, ...]}`` (or rows as lists in
    schema order), or columnar format ``{"inputs": {feature: [values, ...]}}``: exactly
    one of the two. (Neither accepts null; absent fields are None.)"""

    model_config = ConfigDict(extra="ignore", json_schema_extra={
        "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}],
    })

    signature_name: str = Field(default=SIGNATURE, max_length=256)
    instances: list[Any] = Field(default=None, min_length=1)  # type: ignore[assignment]
    inputs: dict[str, Any] | list[Any] = Field(default=None)  # type: ignore[assignment]


class PredictResponse(BaseModel):
    """``predictions`` answers the row format, ``outputs`` the columnar one. A single
    output (regression) is a list of ``[value]``; several outputs are named."""

    predictions: list[Any] | None = None
    outputs: list[Any] | dict[str, Any] | None = None
    prediction_ids: list[str] | None = Field(default=None, description="Prediction-log ids of the rows (with --log)")


class VersionStatusDetail(BaseModel):
    error_code: str
    error_message: str


class VersionStatus(BaseModel):
    version: str
    state: str
    status: VersionStatusDetail


class ModelStatus(BaseModel):
    model_version_status: list[VersionStatus]


class SignatureMetadata(BaseModel):
    model_spec: dict[str, Any]
    metadata: dict[str, Any]


REQUEST_MODELS = (InferenceRequest, PredictRequest)
