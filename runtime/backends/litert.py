"""TFLite interpreters: ai-edge-litert, tflite-runtime or tf.lite, behind one thin class.

Dynamic batch follows LiteRT's rules: resize, allocate, then re-read the details, once
per new batch size; outputs are read only after ``invoke``. int8/uint8 inputs are
quantised with clipping and quantised outputs dequantised here, so callers always see
float32.
"""

from __future__ import annotations

import importlib
from typing import Sequence

import numpy as np

from edgekit.runtime.errors import InferenceError, MissingDependencyError, ModelLoadError
from edgekit.runtime.native_stderr import filtered_stderr


def _interpreter_class(module: str, package: str):
    try:
        return importlib.import_module(module).Interpreter
    except ImportError as exc:
        raise MissingDependencyError(package, "litert", purpose="to run .tflite models") from exc


def open_ai_edge_litert(content: bytes, *, threads: int | None, name: str):
    return LiteRTBackend(_interpreter_class("ai_edge_litert.interpreter", "ai-edge-litert"), content, threads, name, "ai-edge-litert")


def open_tflite_runtime(content: bytes, *, threads: int | None, name: str):
    return LiteRTBackend(_interpreter_class("tflite_runtime.interpreter", "tflite-runtime"), content, threads, name, "tflite-runtime")


def open_tf_lite(content: bytes, *, threads: int | None, name: str):
    try:
        # Last resort, imported only when asked for: heavy, and tf.lite.Interpreter is deprecated.
        tf = importlib.import_module("tensorflow")
    except ImportError as exc:
        raise MissingDependencyError("tensorflow", "train", purpose="for the tf.lite fallback") from exc
    return LiteRTBackend(tf.lite.Interpreter, content, threads, name, "tf.lite")


def _quant(detail: dict) -> tuple[float, int] | None:
    if detail["dtype"] not in (np.int8, np.uint8):
        return None
    scale, zero_point = detail["quantization"]
    return float(scale), int(zero_point)


class LiteRTBackend:
    """One interpreter with a single matrix input."""

    def __init__(self, interpreter_class, content: bytes, threads: int | None, name: str, library: str):
        self.name = library
        try:
            with filtered_stderr():
                self._interp = interpreter_class(model_content=content, num_threads=threads)
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{name}: the TFLite interpreter refused the model: {exc}") from exc
        inputs = self._interp.get_input_details()
        if len(inputs) != 1:
            raise ModelLoadError(f"{name}: expected one input tensor, found {len(inputs)}")
        self.input_names = [inputs[0]["name"]]
        self._set = self._interp.set_tensor
        self._invoke = self._interp.invoke
        self._get = self._interp.get_tensor
        self._batch = -1
        self._read_details()

    def _read_details(self) -> None:
        detail = self._interp.get_input_details()[0]
        self._in_index = detail["index"]
        self._in_dtype = detail["dtype"]
        self._in_quant = _quant(detail)
        self._in_width = int(detail["shape"][1]) if len(detail["shape"]) > 1 else 1
        self._batch = int(detail["shape"][0])
        self._out = [(d["index"], _quant(d)) for d in self._interp.get_output_details()]
        self._plain_out = [index for index, quant in self._out if quant is None]
        self._all_plain = len(self._plain_out) == len(self._out)

    @property
    def input_width(self) -> int:
        return self._in_width

    @property
    def input_quantization(self) -> tuple[float, int] | None:
        return self._in_quant

    def _resize(self, batch: int) -> None:
        try:
            self._interp.resize_tensor_input(self._in_index, [batch, self._in_width], strict=False)
            with filtered_stderr():
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise InferenceError(f"cannot resize the model input to batch {batch}: {exc}") from exc
        self._read_details()

    def run(self, feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = feeds[0]
        if x.shape[0] != self._batch:
            self._resize(x.shape[0])
        if self._in_quant is not None:
            scale, zero_point = self._in_quant
            info = np.iinfo(self._in_dtype)
            x = np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(self._in_dtype)
        try:
            self._set(self._in_index, x)
            self._invoke()
        except (ValueError, RuntimeError) as exc:
            raise InferenceError(f"LiteRT failed to run the model: {exc}") from exc
        if self._all_plain:
            return [self._get(index) for index in self._plain_out]
        return [self._dequantize(index, quant) for index, quant in self._out]

    def output_runner(self, position: int):
        """A callable x -> one output, skipping the general path for float models."""
        index_out, quant = self._out[position]
        if self._in_quant is not None or quant is not None:
            return lambda x: self.run([x])[position]
        set_tensor, invoke, get_tensor, index_in = self._set, self._invoke, self._get, self._in_index

        def run(x: np.ndarray) -> np.ndarray:
            if x.shape[0] != self._batch:
                self._resize(x.shape[0])
            try:
                set_tensor(index_in, x)
                invoke()
            except (ValueError, RuntimeError) as exc:
                raise InferenceError(f"LiteRT failed to run the model: {exc}") from exc
            return get_tensor(index_out)

        return run

    def _dequantize(self, index: int, quant: tuple[float, int] | None) -> np.ndarray:
        y = self._get(index)
        if quant is None:
            return y
        scale, zero_point = quant
        return (y.astype(np.float32) - zero_point) * np.float32(scale)
