"""The HTTP endpoints: thin wrappers of parse -> batch -> encode.

Decoding and encoding belong to the served model's adapter (``state.adapter``: feature
columns for tabular models, the model's own tensors for any other model file).

Bodies are read by hand (not through FastAPI's body parameters) because V2 bodies may
carry binary tensors after the JSON, and so that every error keeps the ``{"error": ...}``
format; the request models are added to the OpenAPI document by ``app._openapi``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response

import edgekit
from edgekit.serve import tfserving, v2
from edgekit.serve.limits import decode_content
from edgekit.serve.protocol import (
    ErrorResponse,
    InferenceResponse,
    Liveness,
    ModelMetadata,
    ModelStatus,
    PredictResponse,
    Readiness,
    ServerMetadata,
    SignatureMetadata,
    StatisticsResponse,
)
from edgekit.serve.state import ServeState, state_of

ERRORS = {
    400: {"model": ErrorResponse, "description": "Bad request: malformed JSON, wrong shape, datatype or feature"},
    404: {"model": ErrorResponse, "description": "Unknown model or version"},
    413: {"model": ErrorResponse, "description": "Request body over the size limit"},
    415: {"model": ErrorResponse, "description": "Unsupported Content-Encoding"},
    500: {"model": ErrorResponse, "description": "Server error"},
    503: {"model": ErrorResponse, "description": "Shutting down"},
}
NOT_FOUND = {404: ERRORS[404]}
BINARY_HEADER = {
    "name": v2.HEADER_LENGTH, "in": "header", "required": False, "schema": {"type": "integer", "minimum": 0},
    "description": "Length of the JSON part when binary tensors follow it (Triton's binary tensor extension)",
}


def _body(schema_name: str, *headers: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema_name}"}}}}}
    if headers:
        extra["parameters"] = list(headers)
    return extra


async def _read_body(request: Request, state: ServeState) -> bytes:
    body = await request.body()
    return decode_content(body, request.headers.get("content-encoding"), state.max_body_bytes)


def _json(doc: Any, status: int = 200) -> Response:
    return Response(json.dumps(doc, separators=(",", ":"), allow_nan=False).encode(), status_code=status,
                    media_type="application/json")


# -- Open Inference Protocol (V2) ------------------------------------------------------------
v2_router = APIRouter(tags=["Open Inference Protocol (V2)"])


@v2_router.get("/v2/health/live", response_model=Liveness)
async def server_live() -> Response:
    return _json({"live": True})


@v2_router.get("/v2/health/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def server_ready(request: Request) -> Response:
    ready = state_of(request).ready
    return _json({"ready": ready}, 200 if ready else 503)


@v2_router.get("/v2", response_model=ServerMetadata)
async def server_metadata() -> Response:
    return _json({"name": "edgekit", "version": edgekit.__version__, "extensions": v2.EXTENSIONS})


@v2_router.get("/v2/models/stats", response_model=StatisticsResponse)
async def all_statistics(request: Request) -> Response:
    return _json(_statistics(state_of(request)))


READY = {**NOT_FOUND, 503: {"model": Readiness}}


@v2_router.get("/v2/models/{model_name}", response_model=ModelMetadata, responses=NOT_FOUND)
async def model_metadata(model_name: str, request: Request) -> Response:
    return _model_metadata(state_of(request), model_name, None)


@v2_router.get("/v2/models/{model_name}/versions/{model_version}", response_model=ModelMetadata, responses=NOT_FOUND)
async def model_version_metadata(model_name: str, model_version: str, request: Request) -> Response:
    return _model_metadata(state_of(request), model_name, model_version)


def _model_metadata(state: ServeState, model_name: str, model_version: str | None) -> Response:
    state.check_model(model_name, model_version)
    return _json(state.adapter.metadata_v2([state.version]))


@v2_router.get("/v2/models/{model_name}/ready", response_model=Readiness, responses=READY)
async def model_ready(model_name: str, request: Request) -> Response:
    return _model_ready(state_of(request), model_name, None)


@v2_router.get("/v2/models/{model_name}/versions/{model_version}/ready", response_model=Readiness, responses=READY)
async def model_version_ready(model_name: str, model_version: str, request: Request) -> Response:
    return _model_ready(state_of(request), model_name, model_version)


def _model_ready(state: ServeState, model_name: str, model_version: str | None) -> Response:
    state.check_model(model_name, model_version)
    return _json({"name": state.name, "ready": state.ready}, 200 if state.ready else 503)


@v2_router.get("/v2/models/{model_name}/stats", response_model=StatisticsResponse, responses=NOT_FOUND)
async def model_statistics(model_name: str, request: Request) -> Response:
    state = state_of(request)
    state.check_model(model_name)
    return _json(_statistics(state))


@v2_router.get("/v2/models/{model_name}/versions/{model_version}/stats", response_model=StatisticsResponse,
               responses=NOT_FOUND)
async def model_version_statistics(model_name: str, model_version: str, request: Request) -> Response:
    state = state_of(request)
    state.check_model(model_name, model_version)
    return _json(_statistics(state))


@v2_router.post("/v2/models/{model_name}/infer", response_model=InferenceResponse, responses=ERRORS,
                openapi_extra=_body("InferenceRequest", BINARY_HEADER))
async def infer(model_name: str, request: Request) -> Response:
    return await infer_request(state_of(request), request, model_name, None)


@v2_router.post("/v2/models/{model_name}/versions/{model_version}/infer", response_model=InferenceResponse,
                responses=ERRORS, openapi_extra=_body("InferenceRequest", BINARY_HEADER))
async def infer_version(model_name: str, model_version: str, request: Request) -> Response:
    return await infer_request(state_of(request), request, model_name, model_version)


async def infer_request(state: ServeState, request: Request, model_name: str, model_version: str | None) -> Response:
    state.check_model(model_name, model_version)
    with state.batcher.in_flight():
        return await _infer_in_flight(state, request)


async def _infer_in_flight(state: ServeState, request: Request) -> Response:
    body = await _read_body(request, state)
    parsed, binary = v2.parse_request(body, request.headers.get(v2.HEADER_LENGTH))
    decoded = state.adapter.decode_v2(parsed, binary)
    outputs = await state.predict(decoded.columns, decoded.rows, decoded.key)
    content, headers = state.adapter.encode_v2(outputs, decoded, model_name=state.name, model_version=state.version)
    media_type = "application/octet-stream" if headers else "application/json"
    return Response(content, media_type=media_type, headers=headers)


def _statistics(state: ServeState) -> dict[str, Any]:
    stats, batcher = state.batcher.stats, state.batcher
    duration = lambda count, ns: {"count": count, "ns": ns}  # noqa: E731
    successes = stats.requests - stats.failed_requests
    return {"model_stats": [{
        "name": state.name,
        "version": state.version,
        "last_inference": stats.last_inference_ms,
        "inference_count": stats.rows,
        "execution_count": stats.batches,
        "inference_stats": {
            "success": duration(successes, stats.success_ns),
            "fail": duration(stats.failed_requests, stats.fail_ns),
            "queue": duration(stats.requests, stats.queue_ns),
            "compute_infer": duration(stats.batches, stats.compute_ns),
        },
        "batch_stats": [
            {"batch_size": rows, "compute_infer": duration(count, ns)}
            for rows, (count, ns) in sorted(stats.by_rows.items())
        ],
        "batching": {
            "enabled": batcher.enabled,
            "max_batch_size": batcher.max_batch_size,
            "max_delay_ms": batcher.max_delay_ms,
            **stats.summary(),
        },
    }]}


# -- TensorFlow Serving REST API ---------------------------------------------------------------
tfserving_router = APIRouter(tags=["TensorFlow Serving REST API"])


# The :predict routes come first: "/v1/models/{name}" would also match "NAME:predict".
@tfserving_router.post("/v1/models/{model_name}:predict", response_model=PredictResponse, responses=ERRORS,
                       openapi_extra=_body("PredictRequest"))
async def predict(model_name: str, request: Request) -> Response:
    return await predict_request(state_of(request), request, model_name, None)


@tfserving_router.post("/v1/models/{model_name}/versions/{model_version}:predict", response_model=PredictResponse,
                       responses=ERRORS, openapi_extra=_body("PredictRequest"))
async def predict_version(model_name: str, model_version: str, request: Request) -> Response:
    return await predict_request(state_of(request), request, model_name, model_version)


async def predict_request(state: ServeState, request: Request, model_name: str, model_version: str | None) -> Response:
    state.check_model(model_name, model_version)
    with state.batcher.in_flight():
        return await _predict_in_flight(state, request)


async def _predict_in_flight(state: ServeState, request: Request) -> Response:
    body = await _read_body(request, state)
    parsed = tfserving.parse_request(body, state.adapter.signatures)
    submission = state.adapter.decode_tfserving(parsed)
    outputs = await state.predict(submission.payload, submission.rows, submission.key)
    return _json(state.adapter.encode_tfserving(outputs, submission.fmt))


@tfserving_router.get("/v1/models/{model_name}", response_model=ModelStatus, responses=NOT_FOUND)
async def model_status(model_name: str, request: Request) -> Response:
    state = state_of(request)
    state.check_model(model_name)
    return _json(tfserving.model_status(state.version))


@tfserving_router.get("/v1/models/{model_name}/versions/{model_version}", response_model=ModelStatus,
                      responses=NOT_FOUND)
async def model_version_status(model_name: str, model_version: str, request: Request) -> Response:
    state = state_of(request)
    state.check_model(model_name, model_version)
    return _json(tfserving.model_status(state.version))


@tfserving_router.get("/v1/models/{model_name}/metadata", response_model=SignatureMetadata, responses=NOT_FOUND)
async def signature_metadata(model_name: str, request: Request) -> Response:
    state = state_of(request)
    state.check_model(model_name)
    return _json(state.adapter.signature_metadata(state.version))
