"""ONNX Runtime sessions: the tensor layer's ONNX engine.

Inputs and outputs are the graph's own, with ONNX's symbolic dimensions kept as names.
``invoke`` runs every output; ``run`` and ``output_runner`` serve the tabular adapter,
restricted to the outputs its manifest names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from edgekit.runtime.errors import ConfigError, InferenceError, MissingDependencyError, ModelLoadError
from edgekit.runtime.tensors import TensorSpec

# ONNX Runtime type strings -> numpy dtype names ("string" for text).
_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16", "tensor(uint16)": "uint16",
    "tensor(int32)": "int32", "tensor(uint32)": "uint32", "tensor(int64)": "int64", "tensor(uint64)": "uint64",
    "tensor(bool)": "bool", "tensor(string)": "string",
}


def open_onnxruntime(content: bytes | Path, *, threads: int | None, name: str, outputs: Sequence[str] | None = None,
                     signature: str | None = None):
    if signature is not None:
        raise ConfigError(f"{name}: ONNX models have no signatures (--signature is for .tflite files)")
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime", "onnx", purpose="to run .onnx models") from exc
    return OrtBackend(ort, content, threads, name, outputs)


def _spec(node) -> TensorSpec:
    dtype = _ORT_TYPES.get(node.type, node.type)  # sequences and maps keep ORT's own type string
    shape = node.shape if isinstance(node.shape, (list, tuple)) else []
    dims = tuple(d if isinstance(d, int) and d >= 0 else (d if isinstance(d, str) and d else None) for d in shape)
    return TensorSpec(node.name, dims, dtype)


class OrtBackend:
    """A CPU InferenceSession."""

    format = "onnx"
    signatures: dict = {}
    signature = None

    def __init__(self, ort, content: bytes | Path, threads: int | None, name: str, outputs: Sequence[str] | None):
        self.name = "onnxruntime"
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = int(threads)
        source = str(content) if isinstance(content, Path) else content
        try:
            self._session = ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types, not importable portably
            raise ModelLoadError(f"{name}: onnxruntime refused the model: {_first_line(exc)}") from exc
        self.inputs = tuple(_spec(i) for i in self._session.get_inputs())
        self.outputs = tuple(_spec(o) for o in self._session.get_outputs())
        self.input_names = [s.name for s in self.inputs]
        self.output_names = [s.name for s in self.outputs]
        if outputs is not None:
            missing = [o for o in outputs if o not in self.output_names]
            if missing:
                raise ModelLoadError(f"{name}: the model has no output(s) {missing}; it has {self.output_names}")
        self._selected = list(outputs) if outputs is not None else self.output_names
        self._run = self._session.run
        self._names = self.input_names

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self._session.get_modelmeta().custom_metadata_map)

    # -- the tensor layer ----------------------------------------------------------------
    def invoke(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        try:
            return self._run(self.output_names, dict(zip(self._names, arrays)))
        except Exception as exc:  # InvalidArgument/Fail come from the C++ side
            raise InferenceError(f"onnxruntime failed to run the model: {_first_line(exc)}") from exc

    def raw_runner(self):
        """A callable for one pre-converted input array -> first output (benchmark loops)."""
        if len(self._names) != 1:
            return lambda x: self.invoke([x])[0]
        run, outputs, name = self._run, [self.output_names[0]], self._names[0]
        return lambda x: run(outputs, {name: x})[0]

    # -- the tabular adapter -------------------------------------------------------------
    def output_runner(self, position: int):
        """A callable x -> one of the selected outputs for single-input (matrix) models."""
        run, outputs, name = self._run, [self._selected[position]], self._names[0]

        def run_one(x: np.ndarray) -> np.ndarray:
            try:
                return run(outputs, {name: x})[0]
            except Exception as exc:  # see invoke()
                raise InferenceError(f"onnxruntime failed to run the model: {_first_line(exc)}") from exc

        return run_one

    def run(self, feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
        try:
            return self._run(self._selected, dict(zip(self._names, feeds)))
        except Exception as exc:  # see invoke()
            raise InferenceError(f"onnxruntime failed to run the model: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
