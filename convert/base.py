"""The converter contract and registry, keyed by (source framework, export format).

A converter turns a trained bundle into one export per quantisation, or says why a
quantisation does not apply. The registry imports converters lazily, refuses duplicates,
and its lookup error lists what is supported for the model at hand.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from edgekit.convert.calibration import CalibrationSet
from edgekit.convert.options import ConvertOptions
from edgekit.runtime.errors import ConfigError
from edgekit.runtime.preprocessing import TabularPreprocessing


class NotApplicable(Exception):
    """This quantisation cannot apply to this model; the reason goes in the report."""


@dataclass
class Artifact:
    """A converted model before its manifest is embedded."""

    content: Any  # bytes (TFLite) or onnx.ModelProto
    input_layout: str
    outputs: tuple[str, ...]
    quant: dict[str, Any] = field(default_factory=dict)
    preprocessing: TabularPreprocessing | None = None


@dataclass(frozen=True)
class Job:
    """Everything a converter may read."""

    bundle: Any  # edgekit.train.Bundle
    calibration: CalibrationSet
    options: ConvertOptions

    @property
    def task(self) -> str:
        return self.bundle.card.task

    @property
    def output_role(self) -> str:
        return "prediction" if self.task == "regression" else "probabilities"


class Converter(Protocol):
    format: str
    quantizations: tuple[str, ...]

    def convert(self, job: Job, quantization: str) -> Artifact: ...

    def tools(self) -> dict[str, str]: ...


_REGISTRY: dict[tuple[str, str], str] = {}


def register(framework: str, fmt: str, target: str) -> None:
    key = (framework, fmt)
    if key in _REGISTRY:
        raise ValueError(f"a converter for {framework} -> {fmt} is already registered")
    _REGISTRY[key] = target


register("keras", "tflite", "edgekit.convert.keras_tflite:KerasToTFLite")
register("keras", "onnx", "edgekit.convert.keras_onnx:KerasToOnnx")
register("sklearn", "onnx", "edgekit.convert.sklearn_onnx:SklearnToOnnx")


def supported_formats(framework: str) -> list[str]:
    return [fmt for (fw, fmt) in _REGISTRY if fw == framework]


def converter_for(framework: str, fmt: str) -> Converter:
    target = _REGISTRY.get((framework, fmt))
    if target is None:
        supported = supported_formats(framework)
        raise ConfigError(
            f"cannot export a {framework} model to {fmt}",
            hint=f"{framework} models export to: {', '.join(supported) or 'nothing yet'}",
        )
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)()
