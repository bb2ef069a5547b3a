"""The model card: everything known about a trained model, as JSON beside it."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

import numpy as np
import pandas as pd

from edgekit.runtime.errors import ModelLoadError
from edgekit.runtime.schema import Schema

CARD_VERSION = 1
N_BINS = 10


@dataclass(frozen=True)
class ModelCard:
    task: str
    target: str
    schema: Schema
    labels: list[Any] | None
    winner: dict[str, Any]
    metric: dict[str, Any]
    leaderboard: list[dict[str, Any]]
    test_metrics: dict[str, Any]
    train_metrics: dict[str, Any]
    preparation: dict[str, Any]
    data: dict[str, Any]
    config: dict[str, Any]
    distributions: dict[str, Any]
    seed: int
    library_versions: dict[str, str]
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    edgekit_version: str = ""
    card_version: int = CARD_VERSION

    @property
    def framework(self) -> str:
        return self.winner["framework"]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema"] = self.schema.to_dict()
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_plain)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelCard":
        if not isinstance(data, Mapping):
            raise ModelLoadError("malformed model card: expected a JSON object")
        try:
            values = dict(data)
            values["schema"] = Schema.from_dict(values["schema"])
            known = {f for f in cls.__dataclass_fields__}
            card = cls(**{k: v for k, v in values.items() if k in known})
        except (KeyError, TypeError, ValueError) as exc:  # ValueError: a SchemaError
            raise ModelLoadError(f"malformed model card: {exc!r}") from exc
        problem = card._problem()
        if problem:
            raise ModelLoadError(f"malformed model card: {problem}")
        return card

    def _problem(self) -> str | None:
        """The first field the stages rely on that is missing or of the wrong type."""
        if self.task not in ("regression", "classification"):
            return f"task {self.task!r}"
        if not isinstance(self.target, str) or not self.target:
            return f"target {self.target!r}"
        for name, value, keys in (("winner", self.winner, ("name", "framework")), ("metric", self.metric, ("name",))):
            if not isinstance(value, Mapping) or not all(isinstance(value.get(k), str) for k in keys):
                return f"{name} must be an object with string {', '.join(keys)}"
        if self.task == "classification" and not (isinstance(self.labels, list) and self.labels):
            return "a classification card needs its list of labels"
        for name in ("test_metrics", "train_metrics", "data", "config", "preparation"):
            if not isinstance(getattr(self, name), Mapping):
                return f"{name} must be an object"
        if not isinstance(self.leaderboard, list):
            return "leaderboard must be a list"
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def numeric_summary(values: np.ndarray) -> dict[str, Any]:
    """Decile bins (for PSI), percentiles (for an approximate KS) and moments."""
    values = np.asarray(values, dtype=np.float64)
    present = values[~np.isnan(values)]
    summary: dict[str, Any] = {"kind": "numeric", "count": int(len(values)), "missing_fraction": float(1 - len(present) / max(len(values), 1))}
    if not len(present):
        return summary
    edges = np.unique(np.quantile(present, np.linspace(0, 1, N_BINS + 1)))
    counts = np.histogram(present, bins=edges)[0] if len(edges) > 1 else np.array([len(present)])
    summary.update(
        bin_edges=edges.tolist(),
        bin_fractions=(counts / counts.sum()).tolist(),
        quantiles=np.quantile(present, np.linspace(0, 1, 101)).tolist(),
        mean=float(present.mean()),
        std=float(present.std()),
        min=float(present.min()),
        max=float(present.max()),
    )
    return summary


def categorical_summary(values: pd.Series) -> dict[str, Any]:
    present = values.dropna().astype(str)
    freq = present.value_counts(normalize=True).sort_index()
    return {
        "kind": "categorical",
        "count": int(len(values)),
        "missing_fraction": float(1 - len(present) / max(len(values), 1)),
        "frequencies": {str(k): float(v) for k, v in freq.items()},
    }


def summarize(frame: pd.DataFrame, schema: Schema) -> dict[str, Any]:
    out = {}
    for f in schema:
        col = frame[f.name]
        if f.kind == "numeric":
            out[f.name] = numeric_summary(pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64))
        else:
            out[f.name] = categorical_summary(col.map(lambda v: v if pd.isna(v) else (str(int(v)) if isinstance(v, (int, float, np.number)) and float(v).is_integer() else str(v))))
    return out


def library_versions(*, keras: bool) -> dict[str, str]:
    import sklearn

    import edgekit

    versions = {
        "edgekit": edgekit.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
    }
    try:
        import skops

        versions["skops"] = skops.__version__
    except ImportError:
        pass
    if keras:
        from edgekit.train.tf_env import import_keras, import_tensorflow

        k, tf = import_keras(), import_tensorflow()

        versions["keras"] = k.__version__
        versions["tensorflow"] = tf.__version__
    return versions
