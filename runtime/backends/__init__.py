"""Runtime backends, keyed by model format and imported lazily.

A backend turns verified model bytes into something with ``run(feeds) -> outputs``:
float32 (or string) arrays in, dequantised arrays out, in the manifest's order.
"""

from __future__ import annotations

import importlib
from typing import Protocol, Sequence

import numpy as np

from edgekit.runtime.errors import ConfigError


class Backend(Protocol):
    name: str
    input_names: list[str]

    def run(self, feeds: Sequence[np.ndarray]) -> list[np.ndarray]: ...


# format -> backend name -> "module:factory"; the first importable one wins by default.
_REGISTRY: dict[str, dict[str, str]] = {
    "tflite": {
        "ai-edge-litert": "edgekit.runtime.backends.litert:open_ai_edge_litert",
        "tflite-runtime": "edgekit.runtime.backends.litert:open_tflite_runtime",
        "tf.lite": "edgekit.runtime.backends.litert:open_tf_lite",
    },
    "onnx": {"onnxruntime": "edgekit.runtime.backends.ort:open_onnxruntime"},
    "ort": {"onnxruntime": "edgekit.runtime.backends.ort:open_onnxruntime"},
}
EXTRAS = {"tflite": "litert", "onnx": "onnx", "ort": "onnx"}


def resolve(fmt: str, backend: str | None):
    """Return the factories to try for ``fmt``, restricted to ``backend`` if given."""
    choices = _REGISTRY.get(fmt)
    if choices is None:
        raise ConfigError(f"no runtime backend for format {fmt!r}; supported: {sorted(_REGISTRY)}")
    if backend is not None:
        if backend not in choices:
            raise ConfigError(
                f"backend {backend!r} cannot run {fmt} models",
                hint=f"choose one of {list(choices)}",
            )
        choices = {backend: choices[backend]}
    factories = []
    for name, target in choices.items():
        module, attr = target.split(":")
        factories.append((name, lambda module=module, attr=attr: getattr(importlib.import_module(module), attr)))
    return factories
