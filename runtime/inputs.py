"""Turning user rows into validated columns, and columns into model feeds.

Accepted inputs: a mapping of column -> value(s), a list of row mappings, a 2-D numpy
array in schema order, or anything DataFrame-like (``.columns`` + ``[name]``). Nothing
is silently reordered or dropped: unknown or missing features are errors that name the
feature (with a "did you mean"), values of the wrong type name the row.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Mapping, Sequence

import numpy as np

from edgekit.runtime.errors import SchemaError
from edgekit.runtime.schema import Feature, Schema

# sklearn ONNX exports impute string categoricals whose value is this sentinel.
MISSING_STRING = ""
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def to_columns(rows: Any, schema: Schema) -> dict[str, np.ndarray]:
    """Validate ``rows`` against ``schema``; return one 1-D array per feature, schema order."""
    if isinstance(rows, np.ndarray):
        raw = _columns_from_array(rows, schema)
    elif hasattr(rows, "columns") and not isinstance(rows, Mapping):
        raw = {str(c): np.asarray(rows[c]).reshape(-1) for c in rows.columns}
        _check_names(list(raw), schema, duplicates=len(set(raw)) != len(list(rows.columns)))
    elif isinstance(rows, Mapping):
        _check_names([str(k) for k in rows], schema)
        raw = {str(k): _as_1d(v, str(k)) for k, v in rows.items()}
    elif isinstance(rows, Sequence) and not isinstance(rows, (str, bytes)):
        raw = _columns_from_records(rows, schema)
    else:
        raise SchemaError(
            f"cannot read prediction input of type {type(rows).__name__}",
            hint="pass a dict of columns, a list of row dicts or a 2-D array in schema order",
        )
    lengths = {name: len(col) for name, col in raw.items()}
    if len(set(lengths.values())) > 1:
        raise SchemaError(f"columns have different lengths: {lengths}")
    if not lengths or not next(iter(lengths.values())):
        raise SchemaError("no rows to predict")
    return {f.name: _coerce(raw[f.name], f) for f in schema}


def _as_1d(value: Any, name: str) -> np.ndarray:
    if isinstance(value, (str, bytes)) or np.ndim(value) == 0:
        value = [value]
    arr = np.asarray(value, dtype=object) if _has_strings(value) else np.asarray(value)
    if arr.ndim != 1:
        raise SchemaError(f"feature {name!r}: expected one value per row, got shape {arr.shape}")
    return arr


def _has_strings(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and any(isinstance(v, (str, bytes)) or v is None for v in value)


def _columns_from_array(rows: np.ndarray, schema: Schema) -> dict[str, np.ndarray]:
    if rows.ndim == 1 and len(schema) > 1 and rows.shape[0] == len(schema):
        rows = rows.reshape(1, -1)
    if rows.ndim == 1 and len(schema) == 1:
        rows = rows.reshape(-1, 1)
    if rows.ndim != 2 or rows.shape[1] != len(schema):
        raise SchemaError(
            f"array input has shape {rows.shape}; the model takes [n, {len(schema)}] in the order {schema.names}"
        )
    return {f.name: rows[:, i] for i, f in enumerate(schema)}


def _columns_from_records(rows: Sequence[Any], schema: Schema) -> dict[str, np.ndarray]:
    if not rows:
        raise SchemaError("no rows to predict")
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise SchemaError(f"row {i} is a {type(row).__name__}, expected an object of feature -> value")
        _check_names([str(k) for k in row], schema, where=f"row {i}")
    return {f.name: _as_1d([row[f.name] for row in rows], f.name) for f in schema}


def _check_names(names: list[str], schema: Schema, *, where: str = "input", duplicates: bool = False) -> None:
    if duplicates:
        raise SchemaError(f"{where} has duplicate column names; each feature must appear once")
    unknown = [n for n in names if n not in schema]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, schema.names, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"the model takes {schema.names}"
        raise SchemaError(f"{where} has unknown feature {name!r}", hint=hint)
    missing = [n for n in schema.names if n not in set(names)]
    if missing:
        raise SchemaError(f"{where} is missing feature(s) {missing}", hint=f"the model takes {schema.names}")


# The text pandas reads as missing when a model is trained (read_csv's default na_values):
# the same text must mean "missing" at prediction time, or training and serving disagree.
MISSING_TOKENS = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
    "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
})


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and value.strip() in MISSING_TOKENS
    )


def _coerce(col: np.ndarray, feature: Feature) -> np.ndarray:
    """Return float64 (NaN = missing) for numeric features, object str ('' = missing) for strings."""
    if feature.is_string:
        out = np.empty(len(col), dtype=object)
        for i, v in enumerate(col.tolist()):
            if _is_missing(v):
                out[i] = MISSING_STRING
            elif isinstance(v, float) and v.is_integer():
                out[i] = str(int(v))
            else:
                out[i] = v.decode() if isinstance(v, bytes) else str(v)
        _check_missing(out == MISSING_STRING, feature)
        return out
    values = _fast_float(col)
    if values is None:
        values = np.empty(len(col), dtype=np.float64)
        for i, v in enumerate(col.tolist()):
            if _is_missing(v):
                values[i] = np.nan
                continue
            try:
                values[i] = float(v)
            except (TypeError, ValueError):
                raise SchemaError(
                    f"feature {feature.name!r} expects numbers; row {i} has {v!r}"
                ) from None
    bad = np.isinf(values)
    if bad.any():
        raise SchemaError(f"feature {feature.name!r} has an infinite value in row {int(np.argmax(bad))}")
    # Models compute in float32: a larger number would silently become infinite there.
    with np.errstate(invalid="ignore"):
        bad = np.abs(values) > _FLOAT32_MAX
    if bad.any():
        row = int(np.argmax(bad))
        raise SchemaError(f"feature {feature.name!r}: {float(values[row])!r} in row {row} is beyond the float32 range "
                          "models compute in")
    if feature.kind == "categorical":
        # A code between categories is no category: the source model would call it unknown,
        # an ONNX export would truncate it to a neighbour. Refuse it instead.
        with np.errstate(invalid="ignore"):
            bad = values != np.round(values)
        bad &= ~np.isnan(values)
        if bad.any():
            row = int(np.argmax(bad))
            raise SchemaError(
                f"feature {feature.name!r} takes whole category codes; row {row} has {float(values[row])!r}",
                hint=f"known codes: {list(feature.categories or ())[:20]}",
            )
    _check_missing(np.isnan(values), feature)
    return values


def _fast_float(col: np.ndarray) -> np.ndarray | None:
    # numpy parses numbers and numeric strings in C; anything else takes the checked loop.
    if col.dtype.kind in "fiub":
        return col.astype(np.float64)
    if col.dtype.kind in "OU":
        try:
            return col.astype(np.float64)
        except (TypeError, ValueError):
            return None
    return None


def _check_missing(mask: np.ndarray, feature: Feature) -> None:
    if not feature.nullable and mask.any():
        raise SchemaError(f"feature {feature.name!r} cannot be missing (row {int(np.argmax(mask))})")


def to_matrix(columns: Mapping[str, np.ndarray], schema: Schema) -> np.ndarray:
    """Columns -> float32 [n, f]; string categories become their index (-1 unknown, NaN missing)."""
    n = len(next(iter(columns.values())))
    x = np.empty((n, len(schema)), dtype=np.float32)
    for j, feature in enumerate(schema):
        col = columns[feature.name]
        if feature.is_string:
            lookup = {str(c): float(i) for i, c in enumerate(feature.categories or ())}
            x[:, j] = [np.nan if v == MISSING_STRING else lookup.get(v, -1.0) for v in col]
        else:
            x[:, j] = col
    return x


def to_column_feeds(columns: Mapping[str, np.ndarray], schema: Schema) -> list[np.ndarray]:
    """Columns -> one [n, 1] feed per feature: float32, or object strings."""
    return [
        columns[f.name].reshape(-1, 1) if f.is_string else columns[f.name].astype(np.float32).reshape(-1, 1)
        for f in schema
    ]
