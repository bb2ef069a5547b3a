"""The one exception hierarchy of edgekit.

Every user-facing failure is an :class:`EdgekitError` carrying what went wrong and how to
fix it. The CLI turns it into one readable line and ``exit_code``. Subclasses also derive
from the matching builtin (``ValueError``, ``ImportError``) so callers' existing
``except ValueError`` keeps working, as scikit-learn does with ``NotFittedError``.
"""

from __future__ import annotations


class EdgekitError(Exception):
    """Root of every edgekit error: a message, an optional fix, an exit code."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(EdgekitError, ValueError):
    """A bad argument, option or configuration file (a usage error)."""

    exit_code = 2


class DataError(EdgekitError, ValueError):
    """Input data that cannot be used: missing file, unreadable table, bad target."""

    exit_code = 2


class SchemaError(EdgekitError, ValueError):
    """Prediction input that does not match the model's feature schema."""

    exit_code = 2


class MissingDependencyError(EdgekitError, ImportError):
    """An optional dependency is not installed; names the extra that brings it."""

    exit_code = 2

    def __init__(self, package: str, extra: str, *, purpose: str = ""):
        what = f" (needed {purpose})" if purpose else ""
        super().__init__(
            f"{package} is not installed{what}",
            hint=f"pip install 'edgekit[{extra}]'",
        )
        self.package = package
        self.extra = extra


class ModelLoadError(EdgekitError):
    """A model file or bundle that cannot be loaded safely."""


class IntegrityError(ModelLoadError):
    """A model file whose bytes do not match the sha256 recorded in its manifest."""


class ConversionError(EdgekitError):
    """An export that cannot be produced for this model."""


class ParityError(ConversionError):
    """An export that was produced but lost too much accuracy against its source."""


class InferenceError(EdgekitError):
    """The backend failed while running a model."""
