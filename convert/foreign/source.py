"""Foreign sources: what ``edgekit convert PATH`` accepts besides a bundle, and how each opens.

A source knows its inputs (as :class:`TensorSpec`), its output names, which exports it can
produce, and runs its float model for the gate. ``.keras`` files and SavedModel folders
are TensorFlow sources (``tf_source``); a float ``.onnx`` or ``.tflite`` file is its own
reference, run through the edgekit tensor layer.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from edgekit.runtime.errors import ConfigError
from edgekit.runtime.tensors import TensorSpec

KINDS = {".keras": "keras", ".onnx": "onnx", ".tflite": "tflite"}
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
BUNDLE_CARD = "model_card.json"


def foreign_kind(path: Path) -> str | None:
    """'keras', 'saved_model', 'onnx' or 'tflite'; None for anything else (a bundle, or a
    folder the bundle loader will explain)."""
    path = Path(path)
    if path.is_dir():
        if (path / BUNDLE_CARD).is_file():
            return None
        return "saved_model" if any((path / name).is_file() for name in SAVED_MODEL_FILES) else None
    if path.suffix.lower() in KINDS:
        return KINDS[path.suffix.lower()]
    if path.suffix.lower() in (".h5", ".hdf5"):
        raise ConfigError(f"{path.name}: legacy HDF5 Keras files are not converted", hint="re-save it as .keras")
    if path.exists():
        raise ConfigError(f"{path.name}: edgekit converts a bundle folder, a .keras file, a SavedModel folder, "
                          "or a float .onnx / .tflite file")
    return None


class Source:
    """Common facts; subclasses add ``reference`` and the objects their exporters need."""

    offers: Mapping[str, tuple[str, ...]] = {}  # format -> quantisations this source can produce

    def __init__(self, path: Path, kind: str, framework: str, inputs: tuple[TensorSpec, ...],
                 output_names: tuple[str, ...], sha256: str, size_bytes: int):
        self.path = Path(path)
        self.kind = kind
        self.framework = framework
        self.inputs = inputs
        self.output_names = tuple(output_names)
        self.sha256 = sha256
        self.size_bytes = size_bytes
        self.cache: dict[str, Any] = {}  # intermediate results several exports share (the float ONNX graph)

    @property
    def name(self) -> str:
        return self.path.name

    def reference(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def tools(self) -> dict[str, str]:
        return {}

    def facts(self) -> dict[str, Any]:
        """What the manifest and the report record about the source."""
        return {"file": self.name, "kind": self.kind, "framework": self.framework, "sha256": self.sha256,
                "size_bytes": self.size_bytes,
                **({"sha256_of": "every file, by sorted relative path"} if self.path.is_dir() else {})}

    def close(self) -> None:
        pass


@contextlib.contextmanager
def open_source(path: Path, kind: str) -> Iterator[Source]:
    if kind == "keras":
        from edgekit.convert.foreign.tf_source import open_keras as opener
    elif kind == "saved_model":
        from edgekit.convert.foreign.tf_source import open_saved_model as opener
    else:
        from edgekit.convert.foreign.file_source import open_model_file as opener
    source = opener(Path(path))
    try:
        yield source
    finally:
        source.close()


def tree_facts(path: Path) -> tuple[str, int]:
    """(sha256, size in bytes) of a file, or of a folder's files by sorted relative path."""
    path = Path(path)
    if path.is_file():
        data = path.read_bytes()
        return hashlib.sha256(data).hexdigest(), len(data)
    digest, size = hashlib.sha256(), 0
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        data = item.read_bytes()
        digest.update(item.relative_to(path).as_posix().encode() + b"\0" + hashlib.sha256(data).digest())
        size += len(data)
    return digest.hexdigest(), size


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
