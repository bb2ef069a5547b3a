"""A float ``.onnx`` or ``.tflite`` file as a source: it is its own float reference.

It is opened with the edgekit tensor layer (the same engine the exports are gated with),
so the gate compares two runs of one backend. Files that are already quantised, and
edgekit's own tabular exports (convert their bundle instead), are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from edgekit.convert.foreign.source import Source, tree_facts
from edgekit.runtime import load
from edgekit.runtime.errors import ConfigError
from edgekit.runtime.model import Model

# Operators only a quantised ONNX graph has.
QUANTISED_ONNX_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul",
                      "MatMulInteger", "ConvInteger"}


class ModelFileSource(Source):
    def __init__(self, path: Path, model):
        self.model = model  # edgekit.runtime.TensorModel
        self.content = Path(path).read_bytes()
        sha256, size = tree_facts(path)
        framework = "onnx" if model.format == "onnx" else "tflite"
        super().__init__(path, framework, framework, model.inputs, tuple(s.name for s in model.outputs), sha256, size)
        self.offers = {framework: ("dynamic", "int8")}

    @property
    def signature(self) -> str | None:
        return self.model.signature

    def reference(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.model.run(feeds)

    def onnx_model(self):
        import onnx

        return onnx.load_from_string(self.content)

    def tools(self) -> dict[str, str]:
        return {self.model.backend: _version(self.model.backend)}


def open_model_file(path: Path) -> ModelFileSource:
    model = load(path, verify=False)
    if isinstance(model, Model):
        raise ConfigError(f"{path.name} is an edgekit tabular export", hint="convert the bundle it came from instead")
    quantised = [s.name for s in (*model.inputs, *model.outputs) if s.quantized]
    if model.format == "onnx" and not quantised:
        import onnx

        ops = {node.op_type for node in onnx.load_from_string(path.read_bytes()).graph.node}
        quantised = sorted(ops & QUANTISED_ONNX_OPS)
    if quantised:
        raise ConfigError(f"{path.name} is already quantised ({', '.join(quantised)})",
                          hint="convert the float model it was made from")
    if model.format not in ("onnx", "tflite"):
        raise ConfigError(f"{path.name}: .{model.format} files are not converted; convert the .onnx it came from")
    return ModelFileSource(path, model)


def _version(backend: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(backend)
    except PackageNotFoundError:
        return "unknown"
