"""Tensor specs and feed checks: the vocabulary of the tensor layer.

A :class:`TensorSpec` describes one model input or output the way the backend reports it:
name, shape (dynamic dimensions as ``None``, or the ONNX symbolic name), numpy dtype name
(``"string"`` for text) and, for integer tensors with a scale, its :class:`Quantization`.
:func:`prepare_feeds` turns a user's ``{name: array}`` into the exact arrays a backend
takes, refusing anything it cannot convert without changing values.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from edgekit.runtime.errors import SchemaError

Dim = int | str | None
_QUANTISED_DTYPES = ("int8", "uint8", "int16")


@dataclass(frozen=True)
class Quantization:
    """Affine quantisation, real = (q - zero_point) * scale; per channel along ``axis``."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    def to_dict(self) -> dict[str, Any]:
        return {"scale": list(self.scale), "zero_point": list(self.zero_point), "axis": self.axis}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Quantization":
        return cls(tuple(float(s) for s in data["scale"]), tuple(int(z) for z in data["zero_point"]), int(data.get("axis", 0)))

    def _broadcast(self, values: Sequence[float], ndim: int, dtype) -> np.ndarray | float:
        if not self.per_channel:
            return dtype(values[0]) if values else dtype(0)
        shape = [1] * ndim
        shape[self.axis] = len(values)
        return np.asarray(values, dtype=dtype).reshape(shape)

    def quantize(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Float -> integer, rounded and clipped to the integer type (never wrapped)."""
        scale = self._broadcast(self.scale, x.ndim, np.float32)
        zero_point = self._broadcast(self.zero_point, x.ndim, np.float32)
        info = np.iinfo(dtype)
        with np.errstate(invalid="ignore", over="ignore"):
            q = np.round(np.asarray(x, dtype=np.float32) / scale + zero_point)
        return np.clip(q, info.min, info.max).astype(dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        scale = self._broadcast(self.scale, q.ndim, np.float32)
        zero_point = self._broadcast(self.zero_point, q.ndim, np.float32)
        return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output tensor of a model file."""

    name: str
    shape: tuple[Dim, ...]
    dtype: str
    quantization: Quantization | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def dynamic(self) -> bool:
        return any(not isinstance(d, int) for d in self.shape)

    @property
    def quantized(self) -> bool:
        return self.quantization is not None and self.dtype in _QUANTISED_DTYPES

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(object) if self.dtype == "string" else np.dtype(self.dtype)

    def shape_text(self) -> str:
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype,
                "quantization": self.quantization.to_dict() if self.quantization else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TensorSpec":
        quant = data.get("quantization")
        return cls(str(data["name"]), tuple(d if d is None or isinstance(d, str) else int(d) for d in data["shape"]),
                   str(data["dtype"]), Quantization.from_dict(quant) if quant else None)


def dtype_name(dtype: Any) -> str:
    """numpy dtype name, 'string' for text and object tensors."""
    dt = np.dtype(dtype)
    return "string" if dt.kind in "OUS" else dt.name


def prepare_feeds(specs: Sequence[TensorSpec], feeds: Any) -> list[np.ndarray]:
    """Check ``feeds`` (name -> array-like) against ``specs``; return arrays in spec order."""
    if not isinstance(feeds, Mapping):
        raise SchemaError(f"feeds must be a mapping of input name -> array, not {type(feeds).__name__}",
                          hint=f"e.g. run({{{specs[0].name!r}: x}})" if specs else None)
    names = [s.name for s in specs]
    unknown = [str(k) for k in feeds if k not in names]
    if unknown:
        raise SchemaError(f"unknown input {unknown[0]!r}{_did_you_mean(unknown[0], names)}; the model's inputs are {names}")
    missing = [n for n in names if n not in feeds]
    if missing:
        raise SchemaError(f"missing input(s) {missing}; the model's inputs are {names}")
    return [convert_feed(spec, feeds[spec.name]) for spec in specs]


def _did_you_mean(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def convert_feed(spec: TensorSpec, value: Any) -> np.ndarray:
    """One feed as the exact dtype the backend takes, with its shape checked."""
    where = f"input {spec.name!r}"
    arr = value if isinstance(value, np.ndarray) else _as_array(value, spec, where)
    check_shape(spec, arr.shape, where)
    target = spec.dtype
    kind = arr.dtype.kind
    if target == "string":
        if kind not in "OUS":
            raise SchemaError(f"{where} takes strings; got {arr.dtype}")
        return arr.astype(object) if kind != "O" else arr
    if kind in "OUS":
        raise SchemaError(f"{where} takes {target}; got {'strings' if kind in 'US' else 'Python objects'}",
                          hint="pass a numeric array")
    if kind == "c":
        raise SchemaError(f"{where} takes {target}; got complex numbers")
    if spec.quantized and kind == "f":
        _check_finite(arr, where, target, allow_inf=True)
        return _contiguous(spec.quantization.quantize(arr, np.dtype(target)))
    dt = np.dtype(target)
    if arr.dtype == dt:
        return _contiguous(arr)
    if dt.kind == "f":
        if kind == "f" and dt.itemsize < arr.dtype.itemsize:
            _check_float_range(arr, dt, where)
        return _contiguous(arr.astype(dt))
    if dt.kind == "b":
        if kind != "b" and not np.isin(arr, (0, 1)).all():
            raise SchemaError(f"{where} takes booleans; got values other than 0 and 1 in {arr.dtype}")
        return _contiguous(arr.astype(bool))
    # Integer targets: only values that survive the cast unchanged.
    if kind == "f":
        _check_finite(arr, where, target)
        if arr.size and not np.array_equal(arr, np.round(arr)):
            raise SchemaError(f"{where} takes {target}; got fractional values in {arr.dtype}",
                              hint="round the values, or feed integers")
    if arr.size:
        info = np.iinfo(dt)
        low, high = arr.min(), arr.max()
        if low < info.min or high > info.max:
            bad = low if low < info.min else high
            raise SchemaError(f"{where} takes {target}; value {bad} is outside [{info.min}, {info.max}]")
    return _contiguous(arr.astype(dt))


def _contiguous(arr: np.ndarray) -> np.ndarray:
    # np.ascontiguousarray would turn a 0-d scalar tensor into shape (1,).
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _as_array(value: Any, spec: TensorSpec, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=object if spec.dtype == "string" else None)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise SchemaError(f"{where}: cannot make an array of the value given ({exc})") from exc
    if arr.dtype == object and spec.dtype != "string":
        raise SchemaError(f"{where}: the value is not a regular numeric array (ragged lists or mixed types?)")
    return arr


def check_shape(spec: TensorSpec, shape: tuple[int, ...], where: str) -> None:
    if len(shape) != spec.rank:
        raise SchemaError(f"{where} has rank {spec.rank} {spec.shape_text()}; got shape {list(shape)}")
    for axis, (want, got) in enumerate(zip(spec.shape, shape)):
        if isinstance(want, int) and want >= 0 and want != got:
            raise SchemaError(f"{where} has shape {spec.shape_text()}; got {list(shape)} "
                              f"(dimension {axis} must be {want})")


def _check_finite(arr: np.ndarray, where: str, target: str, *, allow_inf: bool = False) -> None:
    bad = np.isnan(arr) if allow_inf else ~np.isfinite(arr)
    if bad.any():
        value = arr[bad].flat[0]
        raise SchemaError(f"{where} takes {target}; got {value} (NaN or infinity cannot be an integer)")


def _check_float_range(arr: np.ndarray, dt: np.dtype, where: str) -> None:
    limit = float(np.finfo(dt).max)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(arr)
        too_big = finite & (np.abs(arr) > limit)
    if too_big.any():
        value = float(arr[too_big].flat[0])
        raise SchemaError(f"{where} takes {dt.name}; value {value:g} overflows it (max {limit:g})")


def synthetic_feeds(specs: Sequence[TensorSpec], shapes: Mapping[str, Sequence[int]] | None = None,
                    *, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random inputs per spec: within the quantised range, the dtype's, or N(0, 1).

    Dynamic dimensions must be fixed through ``shapes`` (name -> full shape); a batch
    dimension left unknown (the first) becomes 1, any other unknown one is an error."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    shapes = dict(shapes or {})
    unknown_names = [n for n in shapes if n not in {s.name for s in specs}]
    if unknown_names:
        names = [s.name for s in specs]
        raise SchemaError(f"--shape names unknown input {unknown_names[0]!r}{_did_you_mean(unknown_names[0], names)}; "
                          f"the model's inputs are {names}")
    for spec in specs:
        shape = concrete_shape(spec, shapes.get(spec.name))
        feeds[spec.name] = _random_tensor(spec, shape, rng)
    return feeds


def concrete_shape(spec: TensorSpec, override: Sequence[int] | None) -> tuple[int, ...]:
    if override is not None:
        shape = tuple(int(d) for d in override)
        check_shape(spec, shape, f"--shape for input {spec.name!r}")
        if any(d < 0 for d in shape):
            raise SchemaError(f"--shape for input {spec.name!r}: dimensions must be >= 0, got {list(shape)}")
        return shape
    shape = []
    for axis, dim in enumerate(spec.shape):
        if isinstance(dim, int) and dim >= 0:
            shape.append(dim)
        elif axis == 0:
            shape.append(1)
        else:
            raise SchemaError(
                f"input {spec.name!r} {spec.shape_text()} has unknown dimension {axis}"
                + (f" ({dim!r})" if isinstance(dim, str) else ""),
                hint=f"fix it with --shape {spec.name}=" + ",".join(
                    str(d) if isinstance(d, int) and d >= 0 else ("1" if i == 0 else "N") for i, d in enumerate(spec.shape)),
            )
    return tuple(shape)


def _random_tensor(spec: TensorSpec, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if spec.dtype == "string":
        return np.asarray(rng.choice(["a", "b", "c"], size=shape), dtype=object)
    dt = spec.numpy_dtype
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if spec.quantized or dt.itemsize == 1:
            low, high = info.min, info.max
        else:  # ids, lengths, step counters: small non-negative values are the safe guess
            low, high = 0, min(info.max, 10)
        return rng.integers(low, high, size=shape, endpoint=True).astype(dt)
    return rng.standard_normal(size=shape).astype(dt)

