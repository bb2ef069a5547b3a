"""What a conversion run should produce: a typed options object, validated once."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgekit.runtime.errors import ConfigError
from edgekit.runtime.manifest import FORMATS, QUANTIZATIONS

TARGET_RUNTIMES = ("litert", "tflite-runtime-2.14", "onnxruntime")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
INT8_IO = ("float", "int8")
DEFAULT_CALIBRATION_CAP = 5000


@dataclass(frozen=True)
class ConvertOptions:
    """``formats``/``quantizations`` of None mean "every one that applies to the model"."""

    formats: tuple[str, ...] | None = None
    quantizations: tuple[str, ...] | None = None
    calibration_rows: int | None = None  # None: every training row up to the cap
    calibration_method: str = "minmax"
    per_channel: bool = False
    int8_io: str = "float"
    max_degradation: float = 2.0  # percent, relative, of the task metric
    target_runtime: str | None = None
    allow_degraded: bool = False
    seed: int = 0
    explicit: frozenset[str] = field(default_factory=frozenset)  # which of formats/quantizations the user chose

    def __post_init__(self) -> None:
        for name, values, allowed in (("--to", self.formats, FORMATS), ("--quantize", self.quantizations, QUANTIZATIONS)):
            if values is not None:
                unknown = [v for v in values if v not in allowed]
                if unknown or not values:
                    raise ConfigError(f"{name}: unknown value(s) {unknown or list(values)}", hint=f"choose from {', '.join(allowed)}")
        if self.calibration_method not in CALIBRATION_METHODS:
            raise ConfigError(f"unknown calibration method {self.calibration_method!r}", hint=f"choose from {CALIBRATION_METHODS}")
        if self.int8_io not in INT8_IO:
            raise ConfigError(f"--int8-io must be one of {INT8_IO}")
        if self.target_runtime is not None and self.target_runtime not in TARGET_RUNTIMES:
            raise ConfigError(f"unknown --target-runtime {self.target_runtime!r}", hint=f"choose from {TARGET_RUNTIMES}")
        if self.calibration_rows is not None and self.calibration_rows < 1:
            raise ConfigError("--calibration-rows must be at least 1")
        if not 0 <= self.max_degradation < 100:
            raise ConfigError("--max-degradation is a percentage between 0 and 100")

    @property
    def legacy_tflite(self) -> bool:
        """Files that tflite-runtime 2.14 can load: no per-channel dense quantisation."""
        return self.target_runtime == "tflite-runtime-2.14"

    def wanted_formats(self) -> tuple[str, ...]:
        if self.formats is not None:
            return self.formats
        if self.target_runtime in ("litert", "tflite-runtime-2.14"):
            return ("tflite",)
        if self.target_runtime == "onnxruntime":
            return ("onnx",)
        return FORMATS

    def wanted_quantizations(self) -> tuple[str, ...]:
        return self.quantizations if self.quantizations is not None else QUANTIZATIONS
