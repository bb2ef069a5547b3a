"""The edgekit exception hierarchy (defined in ``edgekit.runtime.errors``, which depends on nothing)."""

from edgekit.runtime.errors import (  # noqa: F401
    ConfigError,
    ConversionError,
    DataError,
    EdgekitError,
    InferenceError,
    IntegrityError,
    MissingDependencyError,
    ModelLoadError,
    ParityError,
    SchemaError,
)
