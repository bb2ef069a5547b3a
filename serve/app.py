"""``create_app``: a predictor behind FastAPI, with batching, limits and JSON errors."""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from typing import Any, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException

import edgekit
from edgekit.runtime.errors import ConfigError, InferenceError, SchemaError
from edgekit.serve.adapters import adapter_for
from edgekit.serve.batcher import MicroBatcher
from edgekit.serve.errors import RequestError
from edgekit.serve.fast_lane import FastLane
from edgekit.serve.limits import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_BYTES, BodySizeLimit
from edgekit.serve.predictors import Predictor, check_name
from edgekit.serve.protocol import REQUEST_MODELS
from edgekit.serve.routes import tfserving_router, v2_router
from edgekit.serve.state import ServeState
from edgekit.serve.tensor_predictor import TensorPredictor

logger = logging.getLogger("edgekit.serve")

DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_DELAY_MS = 2.0


def create_app(
    predictor: Predictor | TensorPredictor,
    *,
    name: str | None = None,
    batching: bool = True,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    max_delay_ms: float = DEFAULT_MAX_DELAY_MS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    log: str | os.PathLike | None = None,
    warm_up: bool = True,
    fast_lane: bool = True,
) -> FastAPI:
    """A FastAPI app serving ``predictor`` over the V2 and TF Serving REST APIs.

    ``predictor`` is a feature-schema :class:`Predictor` (bundle or tabular export) or a
    :class:`TensorPredictor` (any model file, its own tensors). Requests are micro-batched
    (``max_batch_size`` rows, ``max_delay_ms`` window) onto one model thread unless
    ``batching`` is off or the model has no batch dimension. ``log`` names a SQLite prediction log
    (``edgekit.runtime.prediction_log``) that records every row; responses then carry
    the rows' log ids. Bodies over ``max_body_bytes`` get 413, bodies that take longer than
    ``body_timeout`` seconds to arrive get 408. With ``warm_up`` one
    prediction runs at start-up, so the first request pays no tracing or loading cost.
    ``fast_lane`` answers the inference routes without FastAPI's router (same responses,
    less CPU per request; see :mod:`edgekit.serve.fast_lane`).
    """
    if max_batch_size < 1:
        raise ConfigError(f"--max-batch-size must be at least 1, got {max_batch_size}")
    if max_delay_ms < 0:
        raise ConfigError(f"--max-delay-ms cannot be negative, got {max_delay_ms}")
    if max_body_bytes < 1024:
        raise ConfigError(f"--max-body-bytes must be at least 1024, got {max_body_bytes}")
    if body_timeout <= 0:
        raise ConfigError(f"--body-timeout must be positive, got {body_timeout}")
    name = check_name(name or predictor.name)
    adapter = adapter_for(predictor)
    prediction_log = adapter.open_log(log) if log is not None else None
    batcher = MicroBatcher(adapter.batch_function(prediction_log), max_batch_size=max_batch_size,
                           max_delay_ms=max_delay_ms, enabled=batching and adapter.batchable,
                           merge=adapter.merge, split=adapter.split)
    state = ServeState(predictor, batcher, name=name, max_body_bytes=max_body_bytes, log=prediction_log,
                       adapter=adapter)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        if warm_up:
            await batcher.run_on_worker(predictor.warm_up)
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            await batcher.close()
            await batcher.run_on_worker(state.close)
            batcher.shutdown_executor()

    app = FastAPI(
        title="edgekit serve",
        version=edgekit.__version__,
        description=f"Serves {predictor.describe()} over the Open Inference Protocol (KServe V2) "
                    "and TensorFlow Serving's REST API.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.edgekit = state
    app.include_router(v2_router)
    app.include_router(tfserving_router)
    _add_error_handlers(app)
    if fast_lane:  # added before BodySizeLimit, so the limits wrap it; the routers are included
        # without a prefix, so their routes' patterns are the app's (FastAPI >= 0.16x keeps
        # included routers as opaque entries in app.routes)
        app.add_middleware(FastLane, state=state, app_routes=[*v2_router.routes, *tfserving_router.routes],
                           exception_handlers=app.exception_handlers)
    app.add_middleware(BodySizeLimit, max_body_bytes=max_body_bytes, body_timeout=body_timeout)
    app.openapi = lambda: _openapi(app)
    return app


def open_log(path: str | os.PathLike, predictor: Predictor):
    """The runtime's SQLite prediction log (safe for several worker processes at once)."""
    return adapter_for(predictor).open_log(path)


# -- errors -------------------------------------------------------------------------------
def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError):
        return error_response(exc.status, exc.message)

    @app.exception_handler(SchemaError)
    async def schema_error(request: Request, exc: SchemaError):
        return error_response(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(400, f"{where}: {first.get('msg')}" if where else str(first.get("msg")))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(InferenceError)
    async def inference_error(request: Request, exc: InferenceError):
        logger.error("inference failed: %s", exc)
        return error_response(500, f"inference failed: {exc}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal server error ({type(exc).__name__})")


# -- OpenAPI ------------------------------------------------------------------------------
def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the request models (bodies are read by hand, so FastAPI
    does not see them), minus its 422 entries (validation errors are answered 400), with
    the served model's name and version as the only values of the path parameters."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    _, definitions = models_json_schema([(m, "validation") for m in REQUEST_MODELS],
                                        ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(definitions.get("$defs", {}))
    state: ServeState = app.state.edgekit
    known = {"model_name": state.name, "model_version": state.version}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") in known:
                    # the one model this app serves, so that fuzzers reach past the 404
                    parameter["schema"] = {"type": "string", "enum": [known[parameter["name"]]],
                                           "title": parameter["schema"].get("title", parameter["name"])}
    text = str(schema["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in text:
            components.pop(unused, None)
    app.openapi_schema = schema
    return schema
