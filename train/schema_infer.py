"""Schema inference: which columns are numeric, categorical, or identifiers to drop."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from edgekit.runtime.errors import ConfigError, DataError
from edgekit.runtime.schema import Feature, Schema

MAX_CODE_LEVELS = 10  # integer columns with at most this many consecutive codes are categorical
MAX_STRING_LEVELS = 50  # string columns with more distinct values look like identifiers
ID_UNIQUE_RATIO = 0.5


@dataclass
class ColumnPlan:
    """Kinds decided for each usable column, and what was dropped with why."""

    kinds: dict[str, tuple[str, str]]  # column -> (kind, dtype)
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return list(self.kinds)


def plan_columns(
    frame: pd.DataFrame,
    target: str,
    *,
    categorical: tuple[str, ...] = (),
    numeric: tuple[str, ...] = (),
    drop: tuple[str, ...] = (),
) -> ColumnPlan:
    """Decide each column's kind from the whole table; the user's overrides win."""
    for option, names in (("--categorical", categorical), ("--numeric", numeric), ("--drop", drop)):
        unknown = [n for n in names if n not in frame.columns]
        if unknown:
            raise ConfigError(f"{option} names unknown column(s) {unknown}", hint=f"columns are {list(frame.columns)}")
        if target in names:
            raise ConfigError(f"{option} cannot name the target column {target!r}")
    both = set(categorical) & set(numeric)
    if both:
        raise ConfigError(f"column(s) {sorted(both)} are both --categorical and --numeric")
    plan = ColumnPlan(kinds={})
    for column in frame.columns:
        if column == target:
            continue
        series = frame[column]
        if column in drop:
            plan.dropped[column] = "dropped by --drop"
        elif series.isna().all():
            plan.dropped[column] = "entirely missing"
        elif column in categorical:
            plan.kinds[column] = ("categorical", _dtype(series, categorical=True))
        elif column in numeric:
            if _dtype(series) == "string":
                raise DataError(f"--numeric column {column!r} holds text, e.g. {series.dropna().iloc[0]!r}")
            plan.kinds[column] = ("numeric", _dtype(series))
        else:
            reason = _identifier_reason(series, len(frame))
            if reason:
                plan.dropped[column] = reason
            else:
                plan.kinds[column] = _auto_kind(series)
    if not plan.kinds:
        raise DataError(f"no usable feature columns besides the target {target!r}", hint=f"dropped: {plan.dropped}")
    return plan


def _dtype(series: pd.Series, categorical: bool = False) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "int"
    if pd.api.types.is_numeric_dtype(series):
        values = series.dropna().to_numpy()
        integral = pd.api.types.is_integer_dtype(series) or bool(np.all(np.mod(values, 1) == 0))
        return "int" if integral and (categorical or pd.api.types.is_integer_dtype(series)) else "float"
    return "string"


def _auto_kind(series: pd.Series) -> tuple[str, str]:
    dtype = _dtype(series)
    if dtype == "string":
        return "categorical", "string"
    if pd.api.types.is_bool_dtype(series):
        return "categorical", "int"
    if dtype == "int":
        levels = np.unique(series.dropna().to_numpy())
        consecutive = len(levels) <= MAX_CODE_LEVELS and levels[0] in (0, 1) and np.array_equal(
            levels, np.arange(levels[0], levels[0] + len(levels))
        )
        if consecutive and len(levels) >= 2:
            return "categorical", "int"
    return "numeric", dtype


def _identifier_reason(series: pd.Series, n_rows: int) -> str | None:
    values = series.dropna()
    distinct = values.nunique()
    if _dtype(series) == "string":
        if distinct > MAX_STRING_LEVELS and distinct > ID_UNIQUE_RATIO * len(values):
            return f"looks like an identifier ({distinct} distinct text values in {n_rows} rows)"
        return None
    name = str(series.name).lower()
    if pd.api.types.is_integer_dtype(series) and distinct == n_rows and (name == "id" or name.endswith("_id")):
        return "looks like a row identifier (unique integer per row)"
    return None


def build_schema(train: pd.DataFrame, plan: ColumnPlan) -> Schema:
    """Features with ranges and categories observed in the training split."""
    features = []
    for column, (kind, dtype) in plan.kinds.items():
        values = train[column].dropna()
        if kind == "categorical":
            cats = sorted({_plain(v, dtype) for v in values}, key=lambda v: (str(type(v)), v))
            if not cats:
                raise DataError(f"column {column!r} has no values in the training split")
            features.append(Feature(column, kind, dtype, categories=tuple(cats)))
        else:
            lo = float(values.min()) if len(values) else None
            hi = float(values.max()) if len(values) else None
            features.append(Feature(column, kind, dtype, min=lo, max=hi))
    return Schema.of(features)


def _plain(value, dtype: str):
    if dtype == "string":
        return str(value)
    return int(value) if float(value).is_integer() else float(value)
