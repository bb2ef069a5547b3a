"""The exported-model manifest: the one thing the runtime needs to drive an export.

A manifest travels twice: embedded in the model file (TFLite metadata buffer or ONNX
``metadata_props``), so a file alone is self-describing, and as a sidecar
``manifest.json`` that adds facts about the file itself (sha256, size, parity result).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from edgekit.runtime.errors import ModelLoadError
from edgekit.runtime.preprocessing import TabularPreprocessing
from edgekit.runtime.seal import PLACEHOLDER, SEAL_KEY
from edgekit.runtime.schema import Schema

# Version 2 seals the file's digest into the embedded manifest (edgekit.runtime.seal).
MANIFEST_VERSION = 2
SEALED_SINCE = 2
METADATA_KEY = "edgekit"  # TFLite metadata name and ONNX metadata_props key
SIDECAR_NAME = "manifest.json"

FORMATS = ("tflite", "onnx")
QUANTIZATIONS = ("fp32", "fp16", "dynamic", "int8")
TASKS = ("regression", "classification")
# "matrix": one float32 [n, n_features] input in schema order, string categories given as
# their index in ``Feature.categories`` (-1 unknown, NaN missing).
# "columns": one [n, 1] input per feature, named as the feature; strings stay strings.
INPUT_LAYOUTS = ("matrix", "columns")
OUTPUT_ROLES = ("prediction", "label", "probabilities")
# Fields that describe the file itself; they live only in the sidecar.
FILE_FIELDS = ("sha256", "size_bytes", "parity", "file")


class ManifestFile:
    """What both manifest kinds do alike: JSON (embedded or sidecar) and the file's own facts."""

    def to_json(self, *, embedded: bool = False) -> str:
        return manifest_json(self.to_dict(embedded=embedded))

    def with_file_facts(self, **facts: Any):
        return replace(self, **facts)


@dataclass(frozen=True)
class Manifest(ManifestFile):
    """What an export is and how to feed it."""

    format: str
    quantization: str
    task: str
    target: str
    schema: Schema
    input_layout: str
    outputs: tuple[str, ...]
    labels: tuple[Any, ...] | None = None
    # Preprocessing the runtime applies before the model (only for int8-I/O exports,
    # whose graph starts after normalisation); None when it lives inside the graph.
    preprocessing: TabularPreprocessing | None = None
    quant: Mapping[str, Any] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)
    edgekit_version: str = ""
    created_at: str = ""
    tools: Mapping[str, str] = field(default_factory=dict)
    # Columns of the training data the model does not take, with why (the target, the
    # identifiers training dropped): batch prediction on such a file skips and names them.
    ignored_columns: Mapping[str, str] = field(default_factory=dict)
    manifest_version: int = MANIFEST_VERSION
    # Sidecar-only facts about the file.
    file: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    parity: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        checks = (
            ("format", self.format, FORMATS),
            ("quantization", self.quantization, QUANTIZATIONS),
            ("task", self.task, TASKS),
            ("input_layout", self.input_layout, INPUT_LAYOUTS),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ModelLoadError(f"manifest {name} {value!r} is not one of {allowed}")
        unknown = [r for r in self.outputs if r not in OUTPUT_ROLES]
        if unknown or not self.outputs:
            raise ModelLoadError(f"manifest outputs {list(self.outputs)} must be roles from {OUTPUT_ROLES}")
        if self.task == "classification" and not self.labels:
            raise ModelLoadError("a classification manifest needs its labels")

    @property
    def input_names(self) -> list[str]:
        return ["x"] if self.input_layout == "matrix" else self.schema.names

    def to_dict(self, *, embedded: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["schema"] = self.schema.to_dict()
        data["outputs"] = list(self.outputs)
        data["labels"] = list(self.labels) if self.labels is not None else None
        data["preprocessing"] = self.preprocessing.to_dict() if self.preprocessing else None
        data["quant"] = dict(self.quant)
        data["source"] = dict(self.source)
        data["tools"] = dict(self.tools)
        data["ignored_columns"] = dict(self.ignored_columns)
        return finish_embedded(data) if embedded else data

    @property
    def sealed(self) -> bool:
        """Whether an embedded copy of this manifest must carry the file's sealed digest."""
        return self.manifest_version >= SEALED_SINCE

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Manifest":
        try:
            version = int(data.get("manifest_version", MANIFEST_VERSION))
            if version > MANIFEST_VERSION:
                raise ModelLoadError(
                    f"manifest version {version} is newer than this edgekit understands ({MANIFEST_VERSION})",
                    hint="upgrade edgekit on this device",
                )
            check_keys(data, _FIELDS, version >= SEALED_SINCE)
            labels = data.get("labels")
            prep = data.get("preprocessing")
            return cls(
                format=data["format"],
                quantization=data["quantization"],
                task=data["task"],
                target=str(data["target"]),
                schema=Schema.from_dict(data["schema"]),
                input_layout=data["input_layout"],
                outputs=tuple(data["outputs"]),
                labels=tuple(labels) if labels is not None else None,
                preprocessing=TabularPreprocessing.from_dict(prep) if prep else None,
                quant=dict(data.get("quant") or {}),
                source=dict(data.get("source") or {}),
                edgekit_version=str(data.get("edgekit_version", "")),
                created_at=str(data.get("created_at", "")),
                tools=dict(data.get("tools") or {}),
                ignored_columns={str(k): str(v) for k, v in dict(data.get("ignored_columns") or {}).items()},
                manifest_version=version,
                file=data.get("file"),
                sha256=data.get("sha256"),
                size_bytes=data.get("size_bytes"),
                parity=data.get("parity"),
            )
        except ModelLoadError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"malformed edgekit manifest: {exc!r}") from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> "Manifest":
        return cls.from_dict(_json_object(text))


def _json_object(text: str | bytes) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError("manifest JSON must be an object")
    return data


def finish_embedded(data: dict[str, Any]) -> dict[str, Any]:
    """An embedded copy: no facts about the file itself, and the seal's placeholder."""
    for key in FILE_FIELDS:
        data.pop(key, None)
    data[SEAL_KEY] = PLACEHOLDER  # the digest is written over it once the file is complete (edgekit.runtime.seal)
    return data


def manifest_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, default=_json_default)


def check_keys(data: Mapping[str, Any], fields: frozenset[str], sealed: bool) -> None:
    """Refuse keys edgekit never writes: a damaged key (say, of the seal) must not be ignored."""
    allowed = fields | {SEAL_KEY} if sealed else fields
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise ModelLoadError(f"manifest has unknown field(s) {unknown[:3]}: damaged, or written by another tool")


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays reach manifests through categories and ranges.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_FIELDS = frozenset(f.name for f in fields(Manifest))


def parse_manifest(text: str | bytes):
    """A :class:`Manifest` (tabular export) or a ``TensorManifest`` (``kind: "tensor"``)."""
    data = _json_object(text)
    if data.get("kind") == "tensor":
        from edgekit.runtime.tensor_manifest import TensorManifest

        return TensorManifest.from_dict(data)
    return Manifest.from_dict(data)
