"""The tensor-level manifest: what edgekit records in a model it converted but did not train.

A tabular export carries a :class:`~edgekit.runtime.manifest.Manifest` (schema, task,
labels). A foreign model converted by edgekit (a ``.keras`` file, a SavedModel, a float
``.onnx`` or ``.tflite``) carries this instead: its inputs and outputs as tensors, the
quantisation applied, the source file's sha256 and the gate's result. It travels the same
two ways (embedded under the ``edgekit`` key, and as a sidecar with the file's sha256);
``kind: "tensor"`` tells the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from edgekit.runtime.errors import ModelLoadError
from edgekit.runtime.manifest import ManifestFile, check_keys, finish_embedded
from edgekit.runtime.tensors import TensorSpec

TENSOR_MANIFEST_VERSION = 1
KIND = "tensor"
FORMATS = ("tflite", "onnx", "ort")


@dataclass(frozen=True)
class TensorManifest(ManifestFile):
    format: str
    quantization: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    labels: tuple[Any, ...] | None = None
    # What the model's tensors mean to an adapter above the tensor layer (e.g. images:
    # size, channels, pixel range); empty for plain tensors.
    adapter: Mapping[str, Any] = field(default_factory=dict)
    quant: Mapping[str, Any] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)
    gate: Mapping[str, Any] | None = None
    edgekit_version: str = ""
    created_at: str = ""
    tools: Mapping[str, str] = field(default_factory=dict)
    manifest_version: int = TENSOR_MANIFEST_VERSION
    file: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    parity: Mapping[str, Any] | None = None

    kind = KIND

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ModelLoadError(f"manifest format {self.format!r} is not one of {FORMATS}")
        if not self.outputs:
            raise ModelLoadError("a tensor manifest needs at least one output")

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs]

    def to_dict(self, *, embedded: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": KIND, "manifest_version": self.manifest_version, "format": self.format,
            "quantization": self.quantization, "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "labels": list(self.labels) if self.labels is not None else None,
            "adapter": dict(self.adapter), "quant": dict(self.quant), "source": dict(self.source),
            "gate": dict(self.gate) if self.gate is not None else None,
            "edgekit_version": self.edgekit_version, "created_at": self.created_at, "tools": dict(self.tools),
            "file": self.file, "sha256": self.sha256, "size_bytes": self.size_bytes,
            "parity": dict(self.parity) if self.parity is not None else None,
        }
        return finish_embedded(data) if embedded else data

    @property
    def sealed(self) -> bool:
        return True  # every tensor manifest version seals its file

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TensorManifest":
        try:
            version = int(data.get("manifest_version", TENSOR_MANIFEST_VERSION))
            if version > TENSOR_MANIFEST_VERSION:
                raise ModelLoadError(
                    f"tensor manifest version {version} is newer than this edgekit understands "
                    f"({TENSOR_MANIFEST_VERSION})", hint="upgrade edgekit on this device")
            check_keys(data, _FIELDS | {"kind"}, True)
            labels = data.get("labels")
            return cls(
                format=str(data["format"]),
                quantization=str(data.get("quantization", "fp32")),
                inputs=tuple(TensorSpec.from_dict(s) for s in data["inputs"]),
                outputs=tuple(TensorSpec.from_dict(s) for s in data["outputs"]),
                labels=tuple(labels) if labels is not None else None,
                adapter=dict(data.get("adapter") or {}),
                quant=dict(data.get("quant") or {}),
                source=dict(data.get("source") or {}),
                gate=data.get("gate"),
                edgekit_version=str(data.get("edgekit_version", "")),
                created_at=str(data.get("created_at", "")),
                tools=dict(data.get("tools") or {}),
                manifest_version=version,
                file=data.get("file"),
                sha256=data.get("sha256"),
                size_bytes=data.get("size_bytes"),
                parity=data.get("parity"),
            )
        except ModelLoadError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelLoadError(f"malformed edgekit tensor manifest: {exc!r}") from exc


_FIELDS = frozenset(f.name for f in fields(TensorManifest))
