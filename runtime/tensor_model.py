"""The tensor layer: any verified .tflite/.onnx/.ort file as named tensors in and out.

>>> m = load("kws.tflite")          # a file edgekit did not make
>>> m.inputs                        # (TensorSpec(name='audio', shape=(1, 16000), dtype='float32'),)
>>> m.run({"audio": x})             # {'scores': array(...)}

``run`` checks names, ranks, fixed dimensions and dtypes (casting only when no value
changes; float into an int8/uint8 input is quantised with clipping), resizes dynamic
dimensions once per new shape and returns the backend's outputs as they are (raw integers
for int8 outputs; ``dequantize=True`` gives float32). State tensors are ordinary inputs
and outputs: feed the returned state back on the next call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgekit.runtime.errors import SchemaError
from edgekit.runtime.tensors import TensorSpec, prepare_feeds


class TensorModel:
    """A model file's tensors; not thread-safe (one interpreter state)."""

    def __init__(self, path: Path, fmt: str, engine: Any, *, sha256: str, size_bytes: int,
                 manifest: Any = None, metadata: Mapping[str, bytes | str] | None = None, verified: bool = False):
        self.path = Path(path)
        self.format = fmt
        self.engine = engine
        self.sha256 = sha256
        self.size_bytes = size_bytes
        self.manifest = manifest  # a TensorManifest, or None for a file edgekit never touched
        self.metadata = dict(metadata or {})  # raw embedded metadata entries (TFLite) / metadata_props (ONNX)
        self.verified = verified  # the sha256 was checked against a recorded digest
        self.inputs: tuple[TensorSpec, ...] = tuple(engine.inputs)
        self.outputs: tuple[TensorSpec, ...] = tuple(engine.outputs)
        self._outputs_by_name = {s.name: s for s in self.outputs}
        self._invoke = engine.invoke
        self._output_names = [s.name for s in self.outputs]

    @property
    def backend(self) -> str:
        return self.engine.name

    @property
    def signature(self) -> str | None:
        return getattr(self.engine, "signature", None)

    @property
    def signatures(self) -> dict[str, Any]:
        return dict(getattr(self.engine, "signatures", {}) or {})

    @property
    def quantization(self) -> str | None:
        return getattr(self.manifest, "quantization", None)

    def input(self, name: str) -> TensorSpec:
        return _find(self.inputs, name, "input")

    def output(self, name: str) -> TensorSpec:
        return _find(self.outputs, name, "output")

    def run(self, feeds: Mapping[str, Any], *, dequantize: bool = False) -> dict[str, np.ndarray]:
        """Feeds by input name -> outputs by output name (see the module docstring)."""
        raw = self._invoke(prepare_feeds(self.inputs, feeds))
        outputs = dict(zip(self._output_names, raw))
        if dequantize:
            for spec in self.outputs:
                if spec.quantized:
                    outputs[spec.name] = spec.quantization.dequantize(outputs[spec.name])
        return outputs

    def predict(self, rows: Any, **_: Any):
        """Tabular rows need a feature schema, which only edgekit exports carry."""
        raise SchemaError(f"{self.path.name} has no edgekit feature schema, so it cannot take rows",
                          hint="feed named tensors with run({name: array}); see .inputs")

    def dequantize(self, name: str, values: np.ndarray) -> np.ndarray:
        """An output's raw integers as float32 (unchanged for float outputs)."""
        spec = self.output(name)
        return spec.quantization.dequantize(np.asarray(values)) if spec.quantized else np.asarray(values)

    def describe(self) -> dict[str, Any]:
        """JSON-friendly facts about the file and its tensors."""
        return {"file": self.path.name, "format": self.format, "size_bytes": self.size_bytes, "sha256": self.sha256,
                "backend": self.backend, "signature": self.signature, "signatures": self.signatures,
                "inputs": [s.to_dict() for s in self.inputs], "outputs": [s.to_dict() for s in self.outputs]}

    def __repr__(self) -> str:
        ins = ", ".join(f"{s.name}{s.shape_text()}:{s.dtype}" for s in self.inputs)
        return f"TensorModel({self.path.name!r}, {self.format}, inputs=({ins}), backend={self.backend})"

    def close(self) -> None:
        pass

    def __enter__(self) -> "TensorModel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _find(specs: tuple[TensorSpec, ...], name: str, kind: str) -> TensorSpec:
    for spec in specs:
        if spec.name == name:
            return spec
    raise SchemaError(f"the model has no {kind} {name!r}; its {kind}s are {[s.name for s in specs]}")
