"""Request-body size and read-time limits as pure ASGI middleware (FastAPI has neither).

A declared ``Content-Length`` over the limit is refused before the app runs; a chunked
body (no length) is counted as it streams in and refused the moment it crosses the
limit, so an oversized body is never buffered whole. Both answer 413 with the JSON
error format. (uvicorn discards the unread rest of the body and keeps the connection.)
A body that does not arrive within ``body_timeout`` seconds (a slow or stalled client
holding a connection open) gets 408; uvicorn itself has no such timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib

from starlette.exceptions import HTTPException

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_BODY_TIMEOUT = 30.0


class BodyTooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so frameworks pass it through untouched."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body is larger than the {limit}-byte limit")


class BodyTimeout(HTTPException):
    def __init__(self, seconds: float):
        super().__init__(408, f"the request body did not arrive within {seconds:g} s")


class BodySizeLimit:
    def __init__(self, app, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, body_timeout: float = DEFAULT_BODY_TIMEOUT):
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
        if body_timeout <= 0:
            raise ValueError(f"body_timeout must be positive, got {body_timeout}")
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared == -1:
            await send_json_error(send, 400, "invalid Content-Length header")
            return
        if declared is not None and declared > limit:
            await send_json_error(send, 413, BodyTooLarge(limit).detail)
            return

        received = 0
        started = False
        body_done = False
        deadline = time.monotonic() + self.body_timeout

        async def limited_receive():
            nonlocal received, body_done
            if body_done:  # afterwards the app may wait for a disconnect: no deadline then
                return await receive()
            try:
                message = await _within(receive(), max(deadline - time.monotonic(), 0.001))
            except asyncio.TimeoutError:
                raise BodyTimeout(self.body_timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except (BodyTooLarge, BodyTimeout) as exc:  # an app without a handler for it
            if started:
                raise
            await send_json_error(send, exc.status_code, exc.detail)


async def _within(awaitable, seconds: float):
    """``await awaitable`` or TimeoutError after ``seconds``. asyncio.timeout (3.11+) only
    arms a timer; wait_for also wraps the awaitable in a task, which showed in the
    profile of every request (two receives each)."""
    if _timeout is None:  # Python 3.10
        return await asyncio.wait_for(awaitable, timeout=seconds)
    async with _timeout(seconds):
        return await awaitable


_timeout = getattr(asyncio, "timeout", None)


def _content_length(scope) -> int | None:
    """The declared length, None when absent, -1 when unparseable."""
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                n = int(value)
            except ValueError:
                return -1
            return n if n >= 0 else -1
    return None


async def send_json_error(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


def decode_content(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo gzip/deflate request compression (Triton clients can send it), never
    inflating past ``limit`` bytes: a small compressed body cannot become a huge one."""
    from edgekit.serve.errors import RequestError

    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        error = RequestError(f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none")
        error.status = 415
        raise error
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise RequestError(f"body is not valid {encoding} data: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge(limit)
    if not inflater.eof:
        raise RequestError(f"truncated {encoding} body")
    return out
