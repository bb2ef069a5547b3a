"""The digits-images bundle and its exports, trained and converted once per test session.

Image tests in tests/train, tests/convert and tests/runtime share it (training a CNN per
module would triple the suite's time): each module imports the ``digits`` fixture, which
builds on the first call and returns the cached result after. Import it with ``sys.path``
pointing at tests/ (see the modules that use it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# A tiny budget: one trial of at most 12 epochs (about 15-30 s on 2 shared cores).
TINY = {"n_iter": 1, "epochs": 12, "patience": 4}
_CACHE: dict[str, "DigitsExports"] = {}


@dataclass(frozen=True)
class DigitsExports:
    bundle: Path
    exports: Path

    def export(self, name: str) -> Path:
        return next((self.exports / name).glob("model.*"))


def digits_exports(tmp_path_factory) -> DigitsExports:
    if "digits" not in _CACHE:
        from edgekit.convert.image_bundle import convert_image_bundle
        from edgekit.train.image_api import ImageTrainConfig, train_images

        root = tmp_path_factory.mktemp("digits_images")
        result = train_images("digits-images", ImageTrainConfig(**TINY), show_progress=False)
        bundle = result.save(root / "bundle")
        report = convert_image_bundle(bundle, show_progress=False)
        _CACHE["digits"] = DigitsExports(bundle, Path(report.out))
    return _CACHE["digits"]


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> DigitsExports:
    """The fixture the image test modules import: ``from image_models import digits``."""
    return digits_exports(tmp_path_factory)


def bare_litert(path: Path, x: np.ndarray) -> tuple[np.ndarray, dict]:
    """(dequantised first output, first input's details) of ``x`` through bare ai-edge-litert."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    details = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(details["index"], list(x.shape), strict=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(details["index"], x)
    interpreter.invoke()
    out = interpreter.get_output_details()[0]
    y = interpreter.get_tensor(out["index"])
    scale, zero = out["quantization"]
    return ((y.astype(np.float32) - zero) * scale if scale else y), details
