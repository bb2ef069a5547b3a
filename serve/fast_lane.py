"""``FastLane``: the inference routes without FastAPI's per-request machinery.

Profiled under load (one-row V2 requests, concurrency 32), FastAPI's router (matching
every route in turn), dependency solving and its exception/exit-stack wrappers cost
about as much server CPU as decoding, predicting and encoding the request together.
The inference endpoints need none of that: they read their body by hand and encode
their answer by hand. So this middleware, inside :class:`~edgekit.serve.limits.BodySizeLimit`
(its body limits and time-out still apply), matches ``POST`` on the inference routes
with the routes' own compiled path patterns and runs the very functions the FastAPI
endpoints run (``routes.infer_request`` / ``routes.predict_request``), behind
Starlette's own ``ExceptionMiddleware`` with the app's own exception handlers. Responses
and errors are therefore byte for byte what the FastAPI route gives (a test compares
them); everything else (other paths and methods, a ``root_path``) falls through to FastAPI.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterable, Mapping

from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response

from edgekit.serve import routes
from edgekit.serve.state import ServeState

RequestFunction = Callable[[ServeState, Request, str, "str | None"], Awaitable[Response]]

# endpoint of a FastAPI route -> what it runs, given the state (the same function, so one behaviour)
LANE_ENDPOINTS: dict[Callable[..., Any], RequestFunction] = {
    routes.infer: routes.infer_request,
    routes.infer_version: routes.infer_request,
    routes.predict: routes.predict_request,
    routes.predict_version: routes.predict_request,
}


class FastLane:
    """Pure ASGI middleware; ``app_routes`` are the FastAPI app's routes, ``exception_handlers``
    its handlers (the catch-all ``Exception`` one is left to Starlette's ServerErrorMiddleware
    outside, exactly as FastAPI does)."""

    def __init__(self, app, *, state: ServeState, app_routes: Iterable[Any],
                 exception_handlers: Mapping[Any, Any]):
        self.app = app
        self.state = state
        handlers = {k: v for k, v in exception_handlers.items() if k not in (500, Exception)}
        self._lanes = []
        for route in app_routes:
            run = LANE_ENDPOINTS.get(getattr(route, "endpoint", None))
            if run is not None and "POST" in (route.methods or ()):
                self._lanes.append((route.path_regex, route.param_convertors,
                                    ExceptionMiddleware(self._endpoint(run), handlers=handlers)))

    def _endpoint(self, run: RequestFunction):
        state = self.state

        async def endpoint(scope, receive, send) -> None:
            params = scope["path_params"]
            response = await run(state, Request(scope, receive), params["model_name"], params.get("model_version"))
            await response(scope, receive, send)

        return endpoint

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path = scope["path"]
            for regex, convertors, handled in self._lanes:
                match = regex.match(path)
                if match is not None:
                    scope["path_params"] = {k: convertors[k].convert(v) for k, v in match.groupdict().items()}
                    await handled(scope, receive, send)
                    return
        await self.app(scope, receive, send)
