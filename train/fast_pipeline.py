"""A fitted scikit-learn pipeline replayed on numpy arrays: the cheap per-call serving path.

``Pipeline.predict`` on a one-row DataFrame costs milliseconds here, almost none of it the
model: building the frame, pandas column selection inside the ``ColumnTransformer`` and
sklearn's per-step input validation. :func:`compile_pipeline` reads the fitted state of
the steps edgekit's trainer builds (``ColumnTransformer`` of ``SimpleImputer`` /
``StandardScaler`` / ``OneHotEncoder`` pipelines, ``remainder="drop"``) and applies it
with the same numpy operations sklearn's own ``transform`` performs (same dtypes, same
in-place arithmetic), so the features reaching the final estimator are identical; the
estimator itself still runs its own ``predict``/``predict_proba``, with parameter
validation skipped because the inputs are known to be valid.

Anything else (other transformers, column selections by callable, sparse output,
infrequent categories, set_output(pandas), ...) is not compiled: ``compile_pipeline``
returns None and the caller keeps the plain pipeline. At call time the compiled function
returns None (defer) whenever sklearn's own path would behave differently, e.g. raise on
an unknown category or a non-finite feature, so errors stay exactly sklearn's.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from edgekit.runtime.schema import Schema

Columns = Mapping[str, np.ndarray]
ArrayStep = Callable[[np.ndarray], "np.ndarray | None"]  # None: defer to the plain pipeline


class Unsupported(Exception):
    """A step this module does not replay (the caller then keeps the plain pipeline)."""


def compile_pipeline(model: Any, schema: Schema, task: str) -> Callable[[Columns], "np.ndarray | None"] | None:
    """``columns -> predictions`` equal to ``model.predict``/``predict_proba`` on
    ``features_frame(columns)``, or None when ``model`` has a step not replayed here."""
    try:
        return _compile(model, schema, task)
    except Unsupported:
        return None


def _compile(model: Any, schema: Schema, task: str):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if type(model) is not Pipeline or len(model.steps) < 2:
        raise Unsupported("not a Pipeline with a preprocessing step")
    steps = [s for _, s in model.steps[:-1] if s not in (None, "passthrough")]
    final = model.steps[-1][1]
    if not steps or type(steps[0]) is not ColumnTransformer:
        raise Unsupported("the first step is not a ColumnTransformer")
    frame_step = _column_transformer(steps[0], schema)
    array_steps = [_array_step(s) for s in steps[1:]]
    if hasattr(final, "feature_names_in_"):  # fitted on a frame: it would warn or check names
        raise Unsupported("the final estimator was fitted with feature names")
    method = getattr(final, "predict" if task == "regression" else "predict_proba", None)
    if method is None:
        raise Unsupported("the final estimator cannot predict this task")
    import sklearn

    regression = task == "regression"

    def predict(columns: Columns) -> np.ndarray | None:
        x = frame_step(columns)
        for step in array_steps:
            if x is None:
                return None
            x = step(x)
        if x is None or x.dtype.kind not in "fiu" or not np.isfinite(x).all():
            return None  # sklearn's own checks decide (and word the error)
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            y = method(x)
        y = np.asarray(y, dtype=np.float64)
        return y.reshape(-1) if regression else y

    return predict


# -- the ColumnTransformer ------------------------------------------------------------------
def _column_transformer(ct, schema: Schema) -> Callable[[Columns], "np.ndarray | None"]:
    if getattr(ct, "sparse_output_", False):
        raise Unsupported("sparse ColumnTransformer output")
    if (getattr(ct, "_sklearn_output_config", None) or {}).get("transform", "default") != "default":
        raise Unsupported("set_output on the ColumnTransformer")
    names_in = [str(n) for n in getattr(ct, "feature_names_in_", [])]
    if names_in != list(schema.names):  # fitted on another frame layout
        raise Unsupported("ColumnTransformer fitted on other columns")
    string = {f.name for f in schema if f.is_string}
    parts: list[tuple[list[str], ArrayStep]] = []
    for name, transformer, columns in ct.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        selected = _column_names(columns, names_in)
        if not selected:
            continue  # sklearn skips empty selections
        if isinstance(transformer, str):  # "passthrough" keeps a frame's mixed dtypes: not replayed
            raise Unsupported(f"{name}: passthrough columns")
        kinds = {c in string for c in selected}
        if len(kinds) > 1:
            raise Unsupported(f"{name}: mixes text and number columns")
        parts.append((selected, _array_step(transformer)))
    if not parts:
        raise Unsupported("no transformer output")

    def transform(columns: Columns) -> np.ndarray | None:
        outputs = []
        for selected, step in parts:
            x = _input_matrix(columns, selected, selected[0] in string)
            y = step(x)
            if y is None:
                return None
            outputs.append(y)
        return outputs[0] if len(outputs) == 1 else np.hstack(outputs)

    return transform


def _column_names(columns: Any, names_in: list[str]) -> list[str]:
    if isinstance(columns, str):
        columns = [columns]
    if isinstance(columns, np.ndarray):
        columns = columns.tolist()
    if not isinstance(columns, (list, tuple)):
        raise Unsupported(f"column selection {type(columns).__name__}")
    out = []
    for c in columns:
        if isinstance(c, str) and c in names_in:
            out.append(c)
        elif isinstance(c, (int, np.integer)) and not isinstance(c, bool) and -len(names_in) <= c < len(names_in):
            out.append(names_in[c])
        else:
            raise Unsupported(f"column selection {c!r}")
    return out


def _input_matrix(columns: Columns, selected: list[str], text: bool) -> np.ndarray:
    """What the step sees in the plain path: ``features_frame`` makes numbers float32 and
    text object (``''`` for missing, which the runtime's columns already hold)."""
    if text:
        return np.stack([np.asarray(columns[c], dtype=object) for c in selected], axis=1)
    return np.stack([np.asarray(columns[c], dtype=np.float32) for c in selected], axis=1)


# -- steps on arrays --------------------------------------------------------------------------
def _array_step(step) -> ArrayStep:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    kind = type(step)
    if kind is Pipeline:
        inner = [_array_step(s) for _, s in step.steps if s not in (None, "passthrough")]
        return _chain(inner)
    if kind is SimpleImputer:
        return _imputer(step)
    if kind is StandardScaler:
        return _scaler(step)
    if kind is OneHotEncoder:
        return _one_hot(step)
    raise Unsupported(f"step {kind.__name__}")


def _chain(steps: list[ArrayStep]) -> ArrayStep:
    def run(x: np.ndarray) -> np.ndarray | None:
        for step in steps:
            x = step(x)
            if x is None:
                return None
        return x

    return run


def _imputer(imp) -> ArrayStep:
    if imp.add_indicator:
        raise Unsupported("SimpleImputer(add_indicator=True)")
    statistics = np.asarray(imp.statistics_)
    missing = imp.missing_values
    nan_missing = isinstance(missing, float) and np.isnan(missing)
    if statistics.dtype.kind == "f" and np.isnan(statistics).any():  # all-missing training column
        raise Unsupported("SimpleImputer dropped an all-missing column")
    if statistics.dtype.kind == "O" and any(v is None or (isinstance(v, float) and np.isnan(v)) for v in statistics):
        raise Unsupported("SimpleImputer dropped an all-missing column")
    fill_dtype = imp._fill_dtype  # sklearn casts the statistics to the fit-time dtype
    width = len(statistics)

    def run(x: np.ndarray) -> np.ndarray | None:
        if x.shape[1] != width or x.dtype != fill_dtype:
            return None  # the dtype sklearn would convert from: let it
        mask = np.isnan(x) if nan_missing else (x == missing)
        if not mask.any():
            return x.copy()
        out = x.copy()
        # sklearn: X[coordinates] = np.repeat(statistics, n_missing), column by column
        rows, cols = np.nonzero(mask)
        out[rows, cols] = statistics.astype(fill_dtype, copy=False)[cols]
        return out

    return run


def _scaler(scaler) -> ArrayStep:
    mean = scaler.mean_ if scaler.with_mean else None
    scale = scaler.scale_ if scaler.with_std else None

    def run(x: np.ndarray) -> np.ndarray | None:
        if x.dtype.kind != "f":
            return None
        out = x.copy()
        if mean is not None:  # the very in-place operations of StandardScaler.transform
            out -= mean.astype(out.dtype)
        if scale is not None:
            out /= scale.astype(out.dtype)
        return out

    return run


def _one_hot(encoder) -> ArrayStep:
    if getattr(encoder, "drop_idx_", None) is not None:
        raise Unsupported("OneHotEncoder(drop=...)")
    if getattr(encoder, "_infrequent_enabled", False):
        raise Unsupported("OneHotEncoder with infrequent categories")
    if encoder.sparse_output:
        raise Unsupported("sparse OneHotEncoder")
    ignore = encoder.handle_unknown in ("ignore", "infrequent_if_exist", "warn")
    if encoder.handle_unknown == "warn":
        raise Unsupported("OneHotEncoder(handle_unknown='warn') warns per call")
    lookups = []
    for cats in encoder.categories_:
        cats = np.asarray(cats)
        if cats.dtype.kind == "O":
            lookups.append(("text", {v: i for i, v in enumerate(cats.tolist())}, cats))
        else:
            if np.isnan(cats.astype(np.float64)).any():
                raise Unsupported("a NaN category")
            lookups.append(("number", None, cats))
    width = sum(len(c) for c in encoder.categories_)
    dtype = encoder.dtype

    def run(x: np.ndarray) -> np.ndarray | None:
        if x.shape[1] != len(lookups):
            return None
        n = x.shape[0]
        out = np.zeros((n, width), dtype=dtype)
        offset = 0
        rows = np.arange(n)
        for j, (kind, table, cats) in enumerate(lookups):
            col = x[:, j]
            if kind == "text":
                if col.dtype.kind != "O":
                    return None
                codes = np.fromiter((table.get(v, -1) for v in col.tolist()), dtype=np.intp, count=n)
                known = codes >= 0
            else:
                if col.dtype.kind not in "fiu":
                    return None
                codes = np.searchsorted(cats, col)
                known = codes < len(cats)
                known[known] = cats[codes[known]] == col[known]
            if not known.all() and not ignore:
                return None  # sklearn raises "Found unknown categories": let it
            out[rows[known], offset + codes[known]] = 1
            offset += len(cats)
        return out

    return run
