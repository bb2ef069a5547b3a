"""A bounds-checked reader for the parts of a .tflite flatbuffer edgekit needs.

Before a file reaches the interpreter we walk its structure with every offset checked
against the buffer, so a truncated or mutated file is refused with a reason instead of
being handed to native code. It also reads the embedded edgekit metadata without the
``schema_py_generated`` module that tflite-runtime does not ship.

Field numbers follow TensorFlow Lite's ``schema.fbs``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from edgekit.runtime.errors import ModelLoadError

FILE_IDENTIFIER = b"TFL3"
MAX_TENSOR_BYTES = 1 << 30  # refuse static shapes that would allocate over 1 GiB
_TYPE_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 5: 8, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 15: 4, 16: 2}
_MAX_ITEMS = 1 << 24
# TensorType -> zero-point range for the quantised integer types (uint8, int16, int8).
_INT_RANGES = {3: (0, 255), 7: (-32768, 32767), 9: (-128, 127)}


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

    def floats(self, table: int, index: int) -> tuple[float, ...]:
        start, length = self.byte_vector(table, index, 4)
        return struct.unpack_from(f"<{length}f", self.buf, start) if length else ()

    def longs(self, table: int, index: int) -> tuple[int, ...]:
        start, length = self.byte_vector(table, index, 8)
        return struct.unpack_from(f"<{length}q", self.buf, start) if length else ()

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
        constant = set()
        for i, t in enumerate(tensors):
            if _check_tensor(r, t, buffers):
                constant.add(i)
        inputs, outputs = r.ints(sg, 1), r.ints(sg, 2)
        for idx in inputs + outputs:
            if not 0 <= idx < len(tensors):
                raise r.fail(f"subgraph input/output tensor {idx} does not exist")
        if not outputs:
            raise r.fail("a subgraph has no outputs")
        computed = set(inputs) | constant
        for op in r.tables(sg, 3):
            n_ops += 1
            if r.scalar(op, 0, "<I") >= len(opcodes):
                raise r.fail("operator refers to a missing opcode")
            op_outputs = r.ints(op, 2)
            for idx in r.ints(op, 1) + op_outputs:
                if not -1 <= idx < len(tensors):
                    raise r.fail(f"operator refers to missing tensor {idx}")
            computed.update(op_outputs)
        # An output nothing writes has no data: the interpreter would hand back null.
        never = [idx for idx in outputs if idx not in computed]
        if never:
            raise r.fail(f"output tensor {never[0]} is never computed")
    metadata: dict[str, bytes] = {}
    for md in r.tables(root, 6):
        key = r.string(md, 0)
        index = r.scalar(md, 1, "<I")
        if index >= buffer_count:
            raise r.fail("metadata refers to a missing buffer")
        metadata[key] = _buffer_bytes(r, buffers[index])
    return TFLiteFileInfo(version, len(subgraphs), n_ops, metadata)


def _check_tensor(r: _Reader, tensor: int, buffers: list[int]) -> bool:
    """Check one tensor; return whether it is a constant (its buffer holds data)."""
    shape = r.ints(tensor, 0)
    buffer = r.scalar(tensor, 2, "<I")
    if buffer >= len(buffers):
        raise r.fail("tensor refers to a missing buffer")
    dtype = r.scalar(tensor, 1, "<b")
    width = _TYPE_BYTES.get(dtype, 1)
    total = width
    for dim in shape:
        if dim < -1:
            raise r.fail(f"tensor dimension {dim}")
        total *= max(dim, 1)
        if total > MAX_TENSOR_BYTES:
            raise r.fail(f"a tensor of shape {shape} would need over {MAX_TENSOR_BYTES >> 20} MiB")
    quantization = r.table(tensor, 4)
    if quantization is not None:
        _check_quantization(r, quantization, dtype, shape)
    b = buffers[buffer]
    return bool(r.byte_vector(b, 0)[1] or r.scalar(b, 1, "<Q"))


def _check_quantization(r: _Reader, q: int, dtype: int, shape: list[int]) -> None:
    """Scales and zero points that LiteRT's kernels trust blindly (a zero, NaN or negative
    scale, or a zero point outside the integer type, crashes the QUANTIZE kernel)."""
    scales, points = r.floats(q, 2), r.longs(q, 3)
    n_scales, n_points = len(scales), len(points)
    if not scales and not points:
        return
    if n_points and n_scales and n_points != n_scales:
        raise r.fail(f"{n_scales} quantisation scales but {n_points} zero points")
    if n_scales > 1:
        axis = r.scalar(q, 6, "<i")
        if not 0 <= axis < len(shape) or shape[axis] != n_scales:
            raise r.fail(f"{n_scales} per-channel scales do not match dimension {axis} of shape {shape}")
    if any(not math.isfinite(s) or s < 0 for s in scales) or (dtype in _INT_RANGES and any(s == 0 for s in scales)):
        raise r.fail(f"invalid quantisation scale {next(s for s in scales if not math.isfinite(s) or s <= 0)}")
    low, high = _INT_RANGES.get(dtype, (-(2**31), 2**31 - 1))
    bad = [z for z in points if not low <= z <= high]
    if bad:
        raise r.fail(f"quantisation zero point {bad[0]} outside [{low}, {high}]")


def _buffer_bytes(r: _Reader, buffer: int) -> bytes:
    start, length = buffer_span(r, buffer)
    return r.buf[start : start + length]


def buffer_span(r: _Reader, buffer: int) -> tuple[int, int]:
    """(start, length) of a Buffer's bytes: inline data, or the offset/size pair that large
    models use for data stored after the flatbuffer; (0, 0) for an empty buffer."""
    start, length = r.byte_vector(buffer, 0)
    if length:
        return start, length
    offset, size = r.scalar(buffer, 1, "<Q"), r.scalar(buffer, 2, "<Q")
    return (offset, size) if offset else (0, 0)
