"""A bounds-checked protobuf walk over an .onnx file, without the ``onnx`` package.

It verifies the wire format, reads ``metadata_props`` and finds every tensor whose data
lives in an external file, so that external-data paths escaping the model's folder
(``../``, absolute paths, symlinks: the ONNX path-traversal CVEs) are refused before
onnxruntime opens anything. Field numbers follow ``onnx.proto``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.runtime.errors import ModelLoadError

_MAX_DEPTH = 64

# message name -> {field number: sub-message name} for the fields we descend into.
_MESSAGES: dict[str, dict[int, str]] = {
    "model": {7: "graph", 14: "entry", 25: "function", 20: "training"},
    "training": {1: "graph", 3: "graph"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "tensor": {13: "entry"},
    "entry": {},
}


@dataclass
class OnnxFileInfo:
    ir_version: int = 0
    has_graph: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    external_locations: list[str] = field(default_factory=list)


class _Walker:
    def __init__(self, buf: bytes, name: str):
        self.buf = buf
        self.name = name
        self.info = OnnxFileInfo()

    def fail(self, why: str) -> ModelLoadError:
        return ModelLoadError(f"{self.name}: not a valid ONNX model ({why})")

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        result = shift = 0
        while True:
            if pos >= end:
                raise self.fail("truncated varint")
            byte = self.buf[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result, pos
            shift += 7
            if shift > 63:
                raise self.fail("varint too long")

    def fields(self, start: int, end: int):
        """Yield (field number, wire type, value or (start, end) for bytes)."""
        pos = start
        while pos < end:
            key, pos = self.varint(pos, end)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise self.fail("field number 0")
            if wire == 0:
                value, pos = self.varint(pos, end)
                yield number, wire, value
            elif wire == 1:
                pos += 8
                yield number, wire, None
            elif wire == 5:
                pos += 4
                yield number, wire, None
            elif wire == 2:
                length, pos = self.varint(pos, end)
                if pos + length > end:
                    raise self.fail("a field runs past the end of its message (truncated?)")
                yield number, wire, (pos, pos + length)
                pos += length
            else:
                raise self.fail(f"unsupported wire type {wire}")
            if pos > end:
                raise self.fail("truncated field")

    def walk(self, kind: str, start: int, end: int, depth: int = 0) -> dict[int, list]:
        if depth > _MAX_DEPTH:
            raise self.fail("messages nested too deeply")
        children = _MESSAGES[kind]
        seen: dict[int, list] = {}
        for number, wire, value in self.fields(start, end):
            seen.setdefault(number, []).append(value)
            if number in children and wire == 2:
                sub = self.walk(children[number], *value, depth + 1)
                self.on_message(kind, number, children[number], sub, value)
        return seen

    def parse(self, span) -> dict[int, list]:
        """One message's fields by number (varints as ints, bytes as (start, end) spans),
        without descending into sub-messages."""
        seen: dict[int, list] = {}
        for number, _, value in self.fields(*span):
            seen.setdefault(number, []).append(value)
        return seen

    def text(self, span) -> str:
        start, end = span
        return self.buf[start:end].decode("utf-8", errors="replace")

    def on_message(self, parent: str, number: int, kind: str, sub: dict[int, list], span) -> None:
        if kind == "entry" and parent == "model":
            key = self.text(sub[1][0]) if 1 in sub else ""
            self.info.metadata[key] = self.text(sub[2][0]) if 2 in sub else ""
        elif kind == "tensor" and sub.get(14, [0])[-1] == 1:
            # data_location == EXTERNAL: remember each "location" entry.
            self.external_entries(sub)

    def external_entries(self, tensor: dict[int, list]) -> None:
        for entry in tensor.get(13, []):
            pairs = {n: v for n, _, v in self.fields(*entry)}
            if 1 in pairs and self.text(pairs[1]) == "location" and 2 in pairs:
                self.info.external_locations.append(self.text(pairs[2]))


def inspect_onnx(buf: bytes, name: str = "model") -> OnnxFileInfo:
    """Verify an ONNX buffer's wire format and collect metadata and external paths."""
    return walk_model(buf, name)[0].info


def walk_model(buf: bytes, name: str = "model") -> tuple[_Walker, dict[int, list]]:
    """The verified walk behind :func:`inspect_onnx`: the walker and the ModelProto's fields."""
    if not buf:
        raise ModelLoadError(f"{name}: empty file; not an ONNX model")
    walker = _Walker(buf, name)
    top = walker.walk("model", 0, len(buf))
    walker.info.ir_version = top.get(1, [0])[0] or 0
    walker.info.has_graph = 7 in top
    if not walker.info.has_graph or not walker.info.ir_version:
        raise walker.fail("no graph or IR version")
    return walker, top


def check_external_data(info: OnnxFileInfo, model_path: Path) -> None:
    """Refuse external-data locations that leave the model's folder."""
    folder = model_path.resolve().parent
    for location in info.external_locations:
        candidate = Path(location)
        if candidate.is_absolute() or ".." in candidate.parts:
            raise ModelLoadError(
                f"{model_path.name}: external data path {location!r} escapes the model folder",
                hint="external data must sit beside the model, referenced by a relative path",
            )
        resolved = Path(os.path.realpath(folder / candidate))
        if folder != resolved and folder not in resolved.parents:
            raise ModelLoadError(
                f"{model_path.name}: external data {location!r} resolves outside the model folder (symlink?)",
                hint="copy the data file next to the model instead of linking it",
            )
