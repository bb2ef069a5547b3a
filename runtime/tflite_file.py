"""A bounds-checked reader for the parts of a .tflite flatbuffer edgekit needs.

Before a file reaches the interpreter we walk its structure with every offset checked
against the buffer, so a truncated or mutated file is refused with a reason instead of
being handed to native code. It also reads the embedded edgekit metadata without the
``schema_py_generated`` module that tflite-runtime does not ship.

Field numbers follow TensorFlow Lite's ``schema.fbs``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from edgekit.runtime.errors import ModelLoadError

FILE_IDENTIFIER = b"TFL3"
MAX_TENSOR_BYTES = 1 << 30  # refuse static shapes that would allocate over 1 GiB
_TYPE_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 5: 8, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 15: 4, 16: 2}
_MAX_ITEMS = 1 << 24


class _Reader:
    """Flatbuffer primitives; every read is checked against the buffer length."""

    def __init__(self, buf: bytes, name: str):
        self.buf = buf
        self.name = name

    def fail(self, why: str) -> ModelLoadError:
        return ModelLoadError(f"{self.name}: not a valid TFLite model ({why})")

    def _unpack(self, fmt: str, pos: int) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.buf):
            raise self.fail(f"offset {pos} out of bounds")
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def u8(self, pos: int) -> int:
        return self._unpack("<B", pos)

    def u32(self, pos: int) -> int:
        return self._unpack("<I", pos)

    def i32(self, pos: int) -> int:
        return self._unpack("<i", pos)

    def u64(self, pos: int) -> int:
        return self._unpack("<Q", pos)

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, or None if absent."""
        vtable = table - self.i32(table)
        vt_size = self._unpack("<H", vtable)
        if vt_size < 4 or vt_size % 2:
            raise self.fail("corrupt vtable")
        slot = 4 + 2 * index
        if slot >= vt_size:
            return None
        offset = self._unpack("<H", vtable + slot)
        return table + offset if offset else None

    def deref(self, pos: int) -> int:
        target = pos + self.u32(pos)
        if target >= len(self.buf):
            raise self.fail("offset points past the end of the file")
        return target

    def table(self, table: int, index: int) -> int | None:
        pos = self.field(table, index)
        return None if pos is None else self.deref(pos)

    def vector(self, table: int, index: int) -> tuple[int, int]:
        """(start of elements, length) of a vector field; (0, 0) when absent."""
        pos = self.field(table, index)
        if pos is None:
            return 0, 0
        vec = self.deref(pos)
        length = self.u32(vec)
        if length > _MAX_ITEMS:
            raise self.fail(f"vector of {length} items")
        return vec + 4, length

    def byte_vector(self, table: int, index: int, width: int = 1) -> tuple[int, int]:
        start, length = self.vector(table, index)
        if start + length * width > len(self.buf):
            raise self.fail("vector runs past the end of the file")
        return start, length

    def tables(self, table: int, index: int) -> list[int]:
        start, length = self.vector(table, index)
        return [self.deref(start + 4 * i) for i in range(length)]

    def ints(self, table: int, index: int) -> list[int]:
        start, length = self.byte_vector(table, index, 4)
        return [self.i32(start + 4 * i) for i in range(length)]

    def string(self, table: int, index: int) -> str:
        start, length = self.byte_vector(table, index)
        return self.buf[start : start + length].decode("utf-8", errors="replace")

    def scalar(self, table: int, index: int, fmt: str, default: int = 0) -> int:
        pos = self.field(table, index)
        return default if pos is None else self._unpack(fmt, pos)


@dataclass(frozen=True)
class TFLiteFileInfo:
    """What the structural check learned: version, tensor counts and metadata blobs."""

    version: int
    n_subgraphs: int
    n_operators: int
    metadata: dict[str, bytes]


def inspect_tflite(buf: bytes, name: str = "model") -> TFLiteFileInfo:
    """Verify a .tflite buffer's structure and return its metadata; raise ModelLoadError."""
    if len(buf) < 8:
        raise ModelLoadError(f"{name}: file too short to be a TFLite model ({len(buf)} bytes)")
    if buf[4:8] != FILE_IDENTIFIER:
        raise ModelLoadError(f"{name}: missing the TFL3 file identifier; not a TFLite model")
    r = _Reader(buf, name)
    root = r.deref(0)
    version = r.scalar(root, 0, "<I")
    if version != 3:
        raise r.fail(f"schema version {version}, expected 3")
    buffers = r.tables(root, 4)
    buffer_count = len(buffers)
    for b in buffers:
        r.byte_vector(b, 0)
        offset, size = r.scalar(b, 1, "<Q"), r.scalar(b, 2, "<Q")
        if offset and offset + size > len(buf):
            raise r.fail("a weight buffer lies outside the file (truncated?)")
    opcodes = r.tables(root, 1)
    subgraphs = r.tables(root, 2)
    if not subgraphs:
        raise r.fail("no subgraphs")
    n_ops = 0
    for sg in subgraphs:
        tensors = r.tables(sg, 0)
        for t in tensors:
            _check_tensor(r, t, buffer_count)
        for idx in r.ints(sg, 1) + r.ints(sg, 2):
            if not 0 <= idx < len(tensors):
                raise r.fail(f"subgraph input/output tensor {idx} does not exist")
        for op in r.tables(sg, 3):
            n_ops += 1
            if r.scalar(op, 0, "<I") >= len(opcodes):
                raise r.fail("operator refers to a missing opcode")
            for idx in r.ints(op, 1) + r.ints(op, 2):
                if not -1 <= idx < len(tensors):
                    raise r.fail(f"operator refers to missing tensor {idx}")
    metadata: dict[str, bytes] = {}
    for md in r.tables(root, 6):
        key = r.string(md, 0)
        index = r.scalar(md, 1, "<I")
        if index >= buffer_count:
            raise r.fail("metadata refers to a missing buffer")
        metadata[key] = _buffer_bytes(r, buffers[index])
    return TFLiteFileInfo(version, len(subgraphs), n_ops, metadata)


def _check_tensor(r: _Reader, tensor: int, buffer_count: int) -> None:
    shape = r.ints(tensor, 0)
    if r.scalar(tensor, 2, "<I") >= buffer_count:
        raise r.fail("tensor refers to a missing buffer")
    width = _TYPE_BYTES.get(r.scalar(tensor, 1, "<b"), 1)
    total = width
    for dim in shape:
        if dim < -1:
            raise r.fail(f"tensor dimension {dim}")
        total *= max(dim, 1)
        if total > MAX_TENSOR_BYTES:
            raise r.fail(f"a tensor of shape {shape} would need over {MAX_TENSOR_BYTES >> 20} MiB")


def _buffer_bytes(r: _Reader, buffer: int) -> bytes:
    start, length = r.byte_vector(buffer, 0)
    if length:
        return r.buf[start : start + length]
    offset, size = r.scalar(buffer, 1, "<Q"), r.scalar(buffer, 2, "<Q")
    return r.buf[offset : offset + size] if offset else b""
