"""The feature schema: what a model takes in, shared by training, export and the runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping

from edgekit.runtime.errors import SchemaError

Kind = Literal["numeric", "categorical"]
DType = Literal["float", "int", "string"]
KINDS = ("numeric", "categorical")
DTYPES = ("float", "int", "string")


@dataclass(frozen=True)
class Feature:
    """One raw input column.

    ``categories`` lists the values seen in training for a categorical feature (numbers
    for integer codes, strings otherwise); ``min``/``max`` give the observed range of a
    numeric one. ``nullable`` says whether the model imputes a missing value.
    """

    name: str
    kind: Kind
    dtype: DType
    min: float | None = None
    max: float | None = None
    categories: tuple[Any, ...] | None = None
    nullable: bool = True

    def __post_init__(self) -> None:
        if not self.name:
            raise SchemaError("a feature needs a non-empty name")
        if self.kind not in KINDS:
            raise SchemaError(f"feature {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.dtype not in DTYPES:
            raise SchemaError(f"feature {self.name!r}: dtype {self.dtype!r} is not one of {DTYPES}")
        if self.kind == "categorical" and not self.categories:
            raise SchemaError(f"categorical feature {self.name!r} needs its categories")
        if self.dtype == "string" and self.kind != "categorical":
            raise SchemaError(f"string feature {self.name!r} must be categorical")

    @property
    def is_string(self) -> bool:
        return self.dtype == "string"

    def to_dict(self) -> dict[str, Any]:
        """Compact: unset ranges/categories and the default ``nullable`` are left out."""
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "dtype": self.dtype}
        if self.min is not None:
            data["min"], data["max"] = self.min, self.max
        if self.categories is not None:
            data["categories"] = list(self.categories)
        if not self.nullable:
            data["nullable"] = False
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Feature":
        if not isinstance(data, Mapping):
            raise SchemaError(f"malformed feature entry {data!r}: expected an object")
        try:
            cats = data.get("categories")
            return cls(
                name=str(data["name"]),
                kind=data["kind"],
                dtype=data["dtype"],
                min=data.get("min"),
                max=data.get("max"),
                categories=tuple(cats) if cats is not None else None,
                nullable=bool(data.get("nullable", True)),
            )
        except (KeyError, TypeError) as exc:
            raise SchemaError(f"malformed feature entry {dict(data)!r}: {exc}") from exc


@dataclass(frozen=True)
class Schema:
    """An ordered tuple of features; the order is the model's input order."""

    features: tuple[Feature, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SchemaError(f"duplicate feature names in schema: {duplicates}")
        if not names:
            raise SchemaError("a schema needs at least one feature")
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(names)})

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def all_numeric(self) -> bool:
        return not any(f.is_string for f in self.features)

    def __len__(self) -> int:
        return len(self.features)

    def __iter__(self):
        return iter(self.features)

    def __getitem__(self, name: str) -> Feature:
        return self.features[self._index[name]]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def index(self, name: str) -> int:
        return self._index[name]

    def to_dict(self) -> dict[str, Any]:
        return {"features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Schema":
        if not isinstance(data, Mapping) or not isinstance(data.get("features"), list):
            raise SchemaError(f"malformed schema {str(data)[:200]}: expected an object with a list of features")
        try:
            return cls(tuple(Feature.from_dict(f) for f in data["features"]))
        except (KeyError, TypeError) as exc:
            raise SchemaError(f"malformed schema: {exc}") from exc

    @classmethod
    def of(cls, features: Iterable[Feature]) -> "Schema":
        return cls(tuple(features))
