"""TFLite interpreters: ai-edge-litert, tflite-runtime or tf.lite, behind one thin class.

The class is the tensor layer's TFLite engine: named inputs and outputs (the signature's
keys when the file has signatures, tensor names otherwise), any number of them, any
dtype, dynamic dimensions. LiteRT's rules are followed: resize, allocate, then re-read
the details, once per new input shape; outputs are read only after ``invoke``.

``invoke`` takes arrays already in the tensor's dtype (see ``edgekit.runtime.tensors``)
and returns raw outputs. ``run`` and ``output_runner`` serve the tabular adapter: float
in (quantised here), float out (dequantised here).
"""

from __future__ import annotations

import importlib
from typing import Sequence

import numpy as np

from edgekit.runtime.errors import ConfigError, EdgekitError, InferenceError, MissingDependencyError, ModelLoadError
from edgekit.runtime.native_stderr import filtered_stderr
from edgekit.runtime.tensors import Quantization, TensorSpec, dtype_name


def _interpreter_class(module: str, package: str):
    try:
        return importlib.import_module(module).Interpreter
    except ImportError as exc:
        raise MissingDependencyError(package, "litert", purpose="to run .tflite models") from exc


def open_ai_edge_litert(content: bytes, *, threads: int | None, name: str, signature: str | None = None):
    cls = _interpreter_class("ai_edge_litert.interpreter", "ai-edge-litert")
    return LiteRTBackend(cls, content, threads, name, "ai-edge-litert", signature)


def open_tflite_runtime(content: bytes, *, threads: int | None, name: str, signature: str | None = None):
    cls = _interpreter_class("tflite_runtime.interpreter", "tflite-runtime")
    return LiteRTBackend(cls, content, threads, name, "tflite-runtime", signature)


def open_tf_lite(content: bytes, *, threads: int | None, name: str, signature: str | None = None):
    try:
        # Last resort, imported only when asked for: heavy, and tf.lite.Interpreter is deprecated.
        tf = importlib.import_module("tensorflow")
    except ImportError as exc:
        raise MissingDependencyError("tensorflow", "train", purpose="for the tf.lite fallback") from exc
    return LiteRTBackend(tf.lite.Interpreter, content, threads, name, "tf.lite", signature)


def _quantization(detail: dict) -> Quantization | None:
    params = detail.get("quantization_parameters") or {}
    scales = np.asarray(params.get("scales", ()), dtype=np.float64).reshape(-1)
    if scales.size == 0:
        scale, zero_point = detail.get("quantization", (0.0, 0))
        if not scale:
            return None
        return Quantization((float(scale),), (int(zero_point),), 0)
    points = np.asarray(params.get("zero_points", ()), dtype=np.int64).reshape(-1)
    if points.size == 0:
        points = np.zeros(scales.size, dtype=np.int64)
    return Quantization(tuple(float(s) for s in scales), tuple(int(z) for z in points),
                        int(params.get("quantized_dimension", 0)))


def _spec(name: str, detail: dict) -> TensorSpec:
    signature = detail.get("shape_signature")
    shape = signature if signature is not None and len(signature) == len(detail["shape"]) else detail["shape"]
    dims = tuple(None if int(d) < 0 else int(d) for d in shape)
    return TensorSpec(name, dims, dtype_name(detail["dtype"]), _quantization(detail))


class LiteRTBackend:
    """One interpreter; one signature (subgraph) of it is run."""

    format = "tflite"

    def __init__(self, interpreter_class, content: bytes, threads: int | None, name: str, library: str,
                 signature: str | None = None):
        self.name = library
        try:
            with filtered_stderr():
                self._interp = interpreter_class(model_content=content, num_threads=threads)
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{name}: the TFLite interpreter refused the model: {exc}") from exc
        try:
            in_names, out_names = self._read_io(signature, name)
        except EdgekitError:
            raise
        except (ValueError, RuntimeError, KeyError) as exc:  # e.g. tensor names that are not UTF-8
            raise ModelLoadError(f"{name}: the TFLite interpreter cannot describe the model's tensors: {exc}") from exc
        self.inputs = tuple(_spec(n, d) for n, d in zip(in_names, self._in_details))
        self.outputs = tuple(_spec(n, d) for n, d in zip(out_names, self._out_details))
        self.input_names = list(in_names)
        self.output_names = list(out_names)
        self._in_index = [int(d["index"]) for d in self._in_details]
        self._out_index = [int(d["index"]) for d in self._out_details]
        self._shapes = [tuple(int(s) for s in d["shape"]) for d in self._in_details]
        self._set = self._interp.set_tensor
        self._invoke = self._interp.invoke
        self._get = self._interp.get_tensor

    def _read_io(self, signature: str | None, name: str) -> tuple[list[str], list[str]]:
        """Names and details of the chosen signature's tensors (the file's tensors without signatures)."""
        try:
            self.signatures = dict(self._interp.get_signature_list())
        except AttributeError:  # very old runtimes
            self.signatures = {}
        self.signature = self._choose_signature(signature, name)
        self._runner = None  # a SignatureRunner for signatures outside subgraph 0
        if self.signature is None:
            self._in_details = list(self._interp.get_input_details())
            self._out_details = list(self._interp.get_output_details())
            in_names = [d["name"] for d in self._in_details]
            out_names = [d["name"] for d in self._out_details]
        else:
            runner = self._interp.get_signature_runner(self.signature)
            in_map, out_map = runner.get_input_details(), runner.get_output_details()
            in_names, out_names = list(in_map), list(out_map)
            self._in_details, self._out_details = [in_map[k] for k in in_names], [out_map[k] for k in out_names]
            if getattr(runner, "_subgraph_index", 0) != 0:
                self._runner = runner
        return in_names, out_names

    def _choose_signature(self, signature: str | None, name: str) -> str | None:
        if signature is not None:
            if signature not in self.signatures:
                raise ConfigError(f"{name} has no signature {signature!r}",
                                  hint=f"its signatures: {sorted(self.signatures) or 'none'}")
            return signature
        if not self.signatures:
            return None
        # Several signatures and none asked for: the one on the primary subgraph, as
        # benchmark_model runs by default (found by its tensor indices).
        primary = {int(d["index"]) for d in self._interp.get_input_details()}
        for key in self.signatures:
            runner = self._interp.get_signature_runner(key)
            if getattr(runner, "_subgraph_index", 0) == 0:
                return key
            if {int(d["index"]) for d in runner.get_input_details().values()} == primary:
                return key
        return next(iter(self.signatures))

    # -- the tensor layer ----------------------------------------------------------------
    def invoke(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Arrays in input order, already of the input dtypes -> raw outputs in output order."""
        if self._runner is not None:
            try:
                result = self._runner(**dict(zip(self.input_names, arrays)))
            except (ValueError, RuntimeError) as exc:
                raise InferenceError(f"LiteRT failed to run signature {self.signature!r}: {exc}") from exc
            return [result[k] for k in self.output_names]
        self._fit_shapes(arrays)
        try:
            for index, array in zip(self._in_index, arrays):
                self._set(index, array)
            self._invoke()
        except (ValueError, RuntimeError) as exc:
            raise InferenceError(f"LiteRT failed to run the model: {exc}") from exc
        return [self._get(index) for index in self._out_index]

    def _fit_shapes(self, arrays: Sequence[np.ndarray]) -> None:
        changed = False
        for i, array in enumerate(arrays):
            if array.shape != self._shapes[i]:
                try:
                    self._interp.resize_tensor_input(self._in_index[i], list(array.shape), strict=False)
                except (ValueError, RuntimeError) as exc:
                    raise InferenceError(f"cannot resize input {self.input_names[i]!r} to {list(array.shape)}: {exc}") from exc
                self._shapes[i] = tuple(array.shape)
                changed = True
        if changed:
            try:
                with filtered_stderr():
                    self._interp.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise InferenceError(f"cannot allocate the model for input shapes {self._shapes}: {exc}") from exc

    def raw_runner(self):
        """A callable for one pre-converted input array -> first raw output (benchmark loops)."""
        if self._runner is not None or len(self._in_index) != 1:
            return lambda x: self.invoke([x])[0]
        set_tensor, invoke, get_tensor = self._set, self._invoke, self._get
        index_in, index_out = self._in_index[0], self._out_index[0]

        def run(x: np.ndarray) -> np.ndarray:
            if x.shape != self._shapes[0]:
                self._fit_shapes([x])
            set_tensor(index_in, x)
            invoke()
            return get_tensor(index_out)

        return run

    # -- the tabular adapter's float view ------------------------------------------------
    @property
    def input_width(self) -> int:
        shape = self._shapes[0]
        return int(shape[1]) if len(shape) > 1 else 1

    @property
    def input_quantization(self) -> tuple[float, int] | None:
        spec = self.inputs[0]
        return (spec.quantization.scale[0], spec.quantization.zero_point[0]) if spec.quantized else None

    def _resize(self, batch: int) -> None:
        self._fit_shapes([np.empty((batch, self.input_width), dtype=np.float32)])

    def run(self, feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Float arrays in (quantised when the input is), dequantised outputs out."""
        arrays = [spec.quantization.quantize(x, spec.numpy_dtype) if spec.quantized else x
                  for spec, x in zip(self.inputs, feeds)]
        raw = self.invoke(arrays)
        return [spec.quantization.dequantize(y) if spec.quantized else y for spec, y in zip(self.outputs, raw)]

    def output_runner(self, position: int):
        """A callable x -> one float output, skipping the general path for float models."""
        quantized = self.inputs[0].quantized or self.outputs[position].quantized
        if quantized or self._runner is not None:
            return lambda x: self.run([x])[position]
        set_tensor, invoke, get_tensor = self._set, self._invoke, self._get
        index_in, index_out = self._in_index[0], self._out_index[position]

        def run(x: np.ndarray) -> np.ndarray:
            if x.shape != self._shapes[0]:
                self._fit_shapes([x])
            try:
                set_tensor(index_in, x)
                invoke()
            except (ValueError, RuntimeError) as exc:
                raise InferenceError(f"LiteRT failed to run the model: {exc}") from exc
            return get_tensor(index_out)

        return run
