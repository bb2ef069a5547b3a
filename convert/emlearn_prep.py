"""An edgekit scikit-learn pipeline's preprocessing as a C function, when it can be one.

edgekit pipelines are ``Pipeline([("prepare", ColumnTransformer), ("model", estimator)])``
(see ``edgekit.train.prepare.make_preprocessor``): numeric columns are imputed (and, for
non-tree models, standardised); each categorical is imputed and one-hot encoded. For
numeric categories all of this is a few comparisons in C, so the firmware can feed raw
feature values in schema order (NaN for a missing value) like every other export takes
them. String categories have no C encoding: such a pipeline is not applicable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgekit.convert.base import NotApplicable


@dataclass(frozen=True)
class CPreprocessing:
    """raw[n_inputs] in schema order -> out[n_outputs], the estimator's features."""

    n_inputs: int
    n_outputs: int
    lines: tuple[str, ...]  # C statements reading ``raw`` and writing ``out``
    steps: tuple[str, ...] = field(default=())  # what it does, for the report

    def c_function(self, name: str) -> str:
        body = "\n".join(f"  {line}" for line in self.lines)
        return (f"// Raw features in schema order (NaN: missing) -> the {self.n_outputs} inputs of the model.\n"
                f"static inline void {name}(const float *raw, float *out) {{\n{body}\n}}\n")


def c_literal(value: float) -> str:
    """A C float literal that parses back to exactly ``float32(value)``."""
    text = f"{float(np.float32(value)):.9g}"
    if not any(ch in text for ch in ".en"):
        text += ".0"
    return text + "f"


def from_pipeline(pipeline, feature_names: list[str]):
    """(estimator, CPreprocessing | None) of a fitted pipeline; NotApplicable with the reason
    when the preprocessing cannot be written in C."""
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline):
        return pipeline, None
    steps = list(pipeline.steps)
    estimator = steps[-1][1]
    if len(steps) == 1:
        return estimator, None
    if len(steps) != 2:
        raise NotApplicable(f"a pipeline of {len(steps)} steps has no C translation here (expected prepare + model)")
    return estimator, _column_transformer(steps[0][1], feature_names)


def _column_transformer(transformer, feature_names: list[str]) -> CPreprocessing:
    from sklearn.compose import ColumnTransformer

    if not isinstance(transformer, ColumnTransformer):
        raise NotApplicable(f"preprocessing {type(transformer).__name__} has no C translation here")
    position = {name: i for i, name in enumerate(feature_names)}
    lines, steps, width = [], [], 0
    for name, part, columns in transformer.transformers_:
        if part == "drop" or (isinstance(columns, (list, tuple)) and not len(columns)):
            continue
        if part == "passthrough":
            raise NotApplicable("passthrough columns are not supported for C export")
        indices = []
        for column in columns:
            if column not in position:
                raise NotApplicable(f"preprocessing step {name!r} reads column {column!r}, which is not a feature")
            indices.append(position[column])
        written, text = _part(part, indices, width, [feature_names[i] for i in indices])
        lines += written
        steps.append(text)
        width += _width(part, len(indices))
    return CPreprocessing(len(feature_names), width, tuple(lines), tuple(steps))


def _flatten(part) -> list:
    from sklearn.pipeline import Pipeline

    return [s for _, s in part.steps] if isinstance(part, Pipeline) else [part]


def _width(part, n_columns: int) -> int:
    last = _flatten(part)[-1]
    if type(last).__name__ == "OneHotEncoder":
        return sum(len(c) for c in last.categories_)
    return n_columns


def _part(part, indices: list[int], offset: int, names: list[str]) -> tuple[list[str], str]:
    stages = _flatten(part)
    kinds = [type(s).__name__ for s in stages]
    imputer = stages[0] if kinds[0] == "SimpleImputer" else None
    rest = stages[1:] if imputer is not None else stages
    if imputer is not None and (imputer.add_indicator or not _is_nan(imputer.missing_values)):
        raise NotApplicable(f"imputation of {names} by a marker other than NaN has no C translation "
                            "(string categories?)")
    fill = imputer.statistics_ if imputer is not None else None
    if fill is not None and fill.dtype.kind not in "fiu":
        raise NotApplicable(f"feature(s) {names} are strings; C takes numbers only")
    lines = []
    values = [_read(i, None if fill is None else fill[k]) for k, i in enumerate(indices)]
    if not rest:
        for k, value in enumerate(values):
            lines.append(f"out[{offset + k}] = {value};  // {names[k]}")
        return lines, f"impute {len(names)} numeric column(s) with their {imputer.strategy if imputer else 'values'}"
    step = rest[0]
    if len(rest) == 1 and type(step).__name__ == "StandardScaler":
        mean = step.mean_ if step.with_mean else np.zeros(len(indices))
        scale = step.scale_ if step.with_std else np.ones(len(indices))
        for k, value in enumerate(values):
            lines.append(f"out[{offset + k}] = ({value} - {c_literal(mean[k])}) / {c_literal(scale[k])};  // {names[k]}")
        return lines, f"impute and standardise {len(names)} numeric column(s)"
    if len(rest) == 1 and type(step).__name__ == "OneHotEncoder":
        if step.drop is not None or step.handle_unknown not in ("ignore", "infrequent_if_exist"):
            raise NotApplicable("a one-hot encoder that drops or errors on categories has no C translation here")
        column = offset
        for k, categories in enumerate(step.categories_):
            if np.asarray(categories).dtype.kind not in "fiu":
                raise NotApplicable(f"feature {names[k]!r} has string categories; C takes numbers only")
            lines.append(f"{{ const float v = {values[k]};  // {names[k]}: one-hot over {len(categories)} values")
            for c in categories:
                lines.append(f"  out[{column}] = (v == {c_literal(c)}) ? 1.0f : 0.0f;")
                column += 1
            lines.append("}")
        return lines, f"impute and one-hot encode {len(names)} categorical column(s)"
    raise NotApplicable(f"preprocessing {' -> '.join(kinds)} has no C translation here")


def _is_nan(value) -> bool:
    try:
        return bool(np.isnan(value))
    except TypeError:
        return False


def _read(index: int, fill) -> str:
    if fill is None:
        return f"raw[{index}]"
    return f"(isnan(raw[{index}]) ? {c_literal(fill)} : raw[{index}])"
