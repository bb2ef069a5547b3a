"""ONNX Runtime sessions behind the same thin ``run`` as the LiteRT backend."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from edgekit.runtime.errors import InferenceError, MissingDependencyError, ModelLoadError


def open_onnxruntime(content: bytes | Path, *, threads: int | None, name: str, outputs: Sequence[str] | None = None):
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime", "onnx", purpose="to run .onnx models") from exc
    return OrtBackend(ort, content, threads, name, outputs)


class OrtBackend:
    """A CPU InferenceSession; feeds are matched to inputs by position."""

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
        self.input_names = [i.name for i in self._session.get_inputs()]
        available = [o.name for o in self._session.get_outputs()]
        if outputs is not None:
            missing = [o for o in outputs if o not in available]
            if missing:
                raise ModelLoadError(f"{name}: the model has no output(s) {missing}; it has {available}")
        self._outputs = list(outputs) if outputs is not None else available
        self._run = self._session.run
        self._names = self.input_names

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self._session.get_modelmeta().custom_metadata_map)

    def output_runner(self, position: int):
        """A callable x -> one output for single-input (matrix) models."""
        run, outputs, name = self._run, [self._outputs[position]], self._names[0]

        def run_one(x: np.ndarray) -> np.ndarray:
            try:
                return run(outputs, {name: x})[0]
            except Exception as exc:  # see run()
                raise InferenceError(f"onnxruntime failed to run the model: {_first_line(exc)}") from exc

        return run_one

    def run(self, feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
        try:
            return self._run(self._outputs, dict(zip(self._names, feeds)))
        except Exception as exc:  # see above: InvalidArgument/Fail come from the C++ side
            raise InferenceError(f"onnxruntime failed to run the model: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
