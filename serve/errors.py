"""HTTP-level errors: each becomes ``{"error": message}`` with its status code.

Feature-level problems are the runtime's own :class:`~edgekit.runtime.errors.SchemaError`
(also answered with 400); these cover what only a server can get wrong.
"""

from __future__ import annotations


class RequestError(Exception):
    """A request the server cannot use (400 unless a subclass says otherwise)."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFoundError(RequestError):
    status = 404


class UnsupportedError(RequestError):
    """A protocol feature edgekit does not implement (shared memory, BF16, ...)."""

    status = 400


class UnavailableError(RequestError):
    status = 503


def validation_message(exc) -> str:
    """A pydantic ValidationError as one readable line."""
    errors = exc.errors(include_url=False)
    if not errors:
        return "invalid request"
    first = errors[0]
    if first["type"] == "json_invalid":
        return f"malformed JSON: {first.get('ctx', {}).get('error', first['msg'])}"
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}" if where else f"{first['msg']}{more}"
