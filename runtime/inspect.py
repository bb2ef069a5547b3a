"""``inspect_model``: describe any .tflite or .onnx file without a backend.

>>> from edgekit.runtime.inspect import inspect_model
>>> facts = inspect_model("kws.tflite")
>>> facts.operators, facts.parameters, facts.weights["by_dtype"], facts.inputs
>>> facts.details["min_runtime"]      # TFLite: oldest runtime release that loads the file
>>> facts.to_dict()                    # everything, JSON-ready

Pure Python and numpy: the file is verified by the same bounds-checked readers ``load``
uses, so a truncated or mutated file is refused with a ModelLoadError, never a crash.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from edgekit.runtime.errors import ModelLoadError
from edgekit.runtime.inspect_report import ModelInspection, weight_summary
from edgekit.runtime.loader import _read, detect_format


def inspect_model(path: str | os.PathLike) -> ModelInspection:
    """Static facts about a .tflite/.onnx file (see :class:`ModelInspection`)."""
    path = Path(path)
    content = _read(path)
    fmt = detect_format(content[:8], path)
    if fmt == "tflite":
        from edgekit.runtime.inspect_tflite import describe_tflite

        parts = describe_tflite(content, path.name)
    elif fmt == "onnx":
        from edgekit.runtime.inspect_onnx import describe_onnx

        parts = describe_onnx(content, path.name, path)
    else:
        raise ModelLoadError(f"{path.name}: the static inspector reads .tflite and .onnx files, not .{fmt}",
                             hint="the backend's view of its inputs and outputs is still shown by 'edgekit info'")
    weights = weight_summary(parts["weights"])
    return ModelInspection(file=path.name, format=fmt, size_bytes=len(content),
                           sha256=hashlib.sha256(content).hexdigest(), operators=parts["operators"],
                           parameters=weights["parameters"], weights=weights, inputs=parts["inputs"],
                           outputs=parts["outputs"], details=parts["details"], manifest=parts["manifest"])
