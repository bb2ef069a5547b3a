"""Preparation: clean, split, and the fitted preprocessing that travels inside the model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from edgekit.runtime.errors import ConfigError, DataError
from edgekit.runtime.inputs import MISSING_STRING, to_columns, to_matrix
from edgekit.runtime.preprocessing import TabularPreprocessing
from edgekit.runtime.schema import Schema

SPLITS = ("random", "tutorial")
NUMERIC_IMPUTE = ("median", "mean", "most_frequent")


@dataclass(frozen=True)
class CleanReport:
    rows_in: int
    duplicates_dropped: int
    missing_target_dropped: int
    rows_out: int

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def clean(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, CleanReport]:
    """Drop exact duplicate rows and rows without a target; keep the original index."""
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is not in the data", hint=f"columns are {list(frame.columns)}")
    if frame[target].isna().all():
        raise DataError(f"target column {target!r} is entirely missing")
    rows_in = len(frame)
    deduped = frame.drop_duplicates()
    with_target = deduped[deduped[target].notna()]
    report = CleanReport(rows_in, rows_in - len(deduped), len(deduped) - len(with_target), len(with_target))
    return with_target, report


def infer_task(y: pd.Series) -> str:
    """Classification for text, booleans and integer targets with few levels; else regression."""
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.dropna().to_numpy()
    if np.all(np.mod(values, 1) == 0) and len(np.unique(values)) <= max(2, min(20, len(values) // 10)):
        return "classification"
    return "regression"


def check_target(y: pd.Series, task: str, target: str) -> None:
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
            example = y.dropna().iloc[0]
            raise DataError(
                f"target {target!r} is not numeric (e.g. {example!r}); regression needs numbers",
                hint="use --task classification for labels",
            )
    elif y.nunique() < 2:
        raise DataError(f"target {target!r} has a single class ({y.iloc[0]!r}); classification needs at least two")


def split(
    frame: pd.DataFrame,
    target: str,
    task: str,
    *,
    mode: str = "random",
    test_size: float = 0.2,
    seed: int = 0,
    columns: list[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/test split; ``tutorial`` reproduces TensorFlow's fuel-efficiency split."""
    if mode not in SPLITS:
        raise ConfigError(f"unknown split {mode!r}; choose one of {SPLITS}")
    if mode == "tutorial":
        used = frame[(columns or [c for c in frame.columns]) + ([target] if columns else [])]
        dataset = frame.loc[used.dropna().index]
        train = dataset.sample(frac=0.8, random_state=0)
        return train, dataset.drop(train.index)
    if not 0.0 < test_size < 1.0:
        raise ConfigError(f"--test-size must be between 0 and 1, got {test_size}")
    from sklearn.model_selection import train_test_split

    stratify = frame[target] if task == "classification" else None
    if stratify is not None and stratify.value_counts().min() < 2:
        stratify = None  # a class with one row cannot be split both ways
    try:
        train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise DataError(f"cannot split {len(frame)} rows with --test-size {test_size}: {exc}") from exc
    return train, test


def features_frame(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The scikit-learn view of raw features: float32 numerics (as ONNX sees them), strings
    with '' for missing (what the exported imputer replaces)."""
    out = {}
    for f in schema:
        col = frame[f.name]
        if f.is_string:
            out[f.name] = col.map(lambda v: MISSING_STRING if pd.isna(v) else str(v)).astype(object)
        else:
            out[f.name] = pd.to_numeric(col, errors="coerce").astype(np.float32)
    return pd.DataFrame(out, index=frame.index)


def feature_matrix(frame: pd.DataFrame, schema: Schema) -> np.ndarray:
    """The neural network's view: the runtime's own float32 matrix encoding."""
    columns = to_columns({f.name: frame[f.name].to_numpy() for f in schema}, schema)
    return to_matrix(columns, schema)


def make_preprocessor(schema: Schema, *, scale: bool, impute: str = "median"):
    """A ColumnTransformer over raw columns: impute (+ scale) numerics, impute + one-hot categoricals.

    Trees get ``scale=False``: they need no scaling, and a float32 ONNX scaler would move
    values across split thresholds computed in float64.
    """
    if impute not in NUMERIC_IMPUTE:
        raise ConfigError(f"unknown imputation {impute!r}; choose one of {NUMERIC_IMPUTE}")
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts = []
    numeric = [f.name for f in schema if f.kind == "numeric"]
    if numeric:
        steps = [("impute", SimpleImputer(strategy=impute))]
        if scale:
            steps.append(("scale", StandardScaler()))
        parts.append(("numeric", Pipeline(steps) if len(steps) > 1 else steps[0][1], numeric))
    for f in schema:
        if f.kind != "categorical":
            continue
        missing = MISSING_STRING if f.is_string else np.nan
        categories = [list(f.categories)] if f.is_string else [np.asarray(f.categories, dtype=np.float32)]
        encoder = Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent", missing_values=missing)),
            ("onehot", OneHotEncoder(categories=categories, handle_unknown="ignore", sparse_output=False)),
        ])
        parts.append((f"cat_{f.name}", encoder, [f.name]))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)


def network_preprocessing(x: np.ndarray, schema: Schema, impute: str = "median") -> TabularPreprocessing:
    """Fit the neural network's in-graph preprocessing on a training matrix."""
    fill, numeric, mean, scale, categorical = [], [], [], [], []
    for j, f in enumerate(schema):
        col = x[:, j]
        present = col[~np.isnan(col)]
        if f.kind == "numeric":
            value = _impute_value(present, impute)
            imputed = np.where(np.isnan(col), value, col)
            numeric.append(j)
            mean.append(float(imputed.mean()))
            std = float(imputed.std())
            scale.append(std if std > 1e-12 else 1.0)
        else:
            value = _impute_value(present, "most_frequent")
            codes = range(len(f.categories)) if f.is_string else f.categories
            categorical.append((j, tuple(float(c) for c in codes)))
        fill.append(float(value))
    return TabularPreprocessing(tuple(fill), tuple(numeric), tuple(mean), tuple(scale), tuple(categorical))


def _impute_value(present: np.ndarray, strategy: str) -> float:
    if not len(present):
        return 0.0
    if strategy == "median":
        return float(np.median(present))
    if strategy == "mean":
        return float(present.mean())
    values, counts = np.unique(present, return_counts=True)
    return float(values[np.argmax(counts)])
