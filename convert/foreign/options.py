"""What a foreign-model conversion should produce: a typed options object, validated once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgekit.convert.options import DEFAULT_CALIBRATION_CAP, ConvertOptions
from edgekit.runtime.errors import ConfigError

# float: int8 exports keep float32 inputs/outputs (quantise/dequantise ops in the graph);
# int8 / uint8: integer inputs and outputs for integer-only devices (TFLite from TensorFlow).
INT8_IO = ("float", "int8", "uint8")
# Quantised exports of non-class outputs must keep this cosine similarity to the source.
MIN_COSINE = 0.99


@dataclass(frozen=True)
class ForeignOptions:
    """``formats``/``quantizations`` of None mean "every one the source offers"."""

    formats: tuple[str, ...] | None = None
    quantizations: tuple[str, ...] | None = None
    calibration: Path | None = None  # .npz: one array per model input, named like it
    eval: Path | None = None  # .npz for the gate (default: the calibration arrays)
    eval_labels: Path | None = None  # .npy of class indices for the eval rows
    calibration_rows: int | None = None  # None: every row, up to the cap
    calibration_method: str = "minmax"  # ONNX static quantisation
    per_channel: bool = False  # ONNX quantisation
    int8_io: str = "float"
    max_degradation: float = 2.0  # percent of top-1 agreement a quantised export may lose
    target_runtime: str | None = None
    allow_degraded: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        # The options bundles have too are checked by the bundles' own options type.
        ConvertOptions(formats=self.formats, quantizations=self.quantizations, calibration_rows=self.calibration_rows,
                       calibration_method=self.calibration_method, max_degradation=self.max_degradation,
                       target_runtime=self.target_runtime)
        if self.int8_io not in INT8_IO:
            raise ConfigError(f"--int8-io must be one of {INT8_IO}")
        if self.eval_labels is not None and self.eval is None and self.calibration is None:
            raise ConfigError("--eval-labels needs the rows they label", hint="pass --eval FILE.npz")

    @property
    def calibration_cap(self) -> int:
        return self.calibration_rows if self.calibration_rows is not None else DEFAULT_CALIBRATION_CAP

    @property
    def legacy_tflite(self) -> bool:
        """Files that tflite-runtime 2.14 can load: no per-channel dense quantisation."""
        return self.target_runtime == "tflite-runtime-2.14"

    def wanted_formats(self, offered: tuple[str, ...]) -> tuple[str, ...]:
        if self.formats is not None:
            return self.formats
        if self.target_runtime in ("litert", "tflite-runtime-2.14"):
            return tuple(f for f in offered if f == "tflite")
        if self.target_runtime == "onnxruntime":
            return tuple(f for f in offered if f == "onnx")
        return offered

    def explicit_quantization(self, quantization: str) -> bool:
        return self.quantizations is not None and quantization in self.quantizations
