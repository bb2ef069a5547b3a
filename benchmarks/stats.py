"""Latency statistics in one schema for every runtime and the cloud (milliseconds)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class LatencyStats:
    count: int
    p50: float
    p90: float
    p95: float
    p99: float
    mean: float
    std: float
    min: float
    max: float

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> "LatencyStats":
        """Percentiles with linear interpolation between closest ranks (numpy's default)."""
        values = np.asarray(samples_ms, dtype=np.float64)
        if values.size == 0:
            raise ValueError("no latency samples")
        p50, p90, p95, p99 = np.percentile(values, PERCENTILES)
        return cls(int(values.size), float(p50), float(p90), float(p95), float(p99), float(values.mean()),
                   float(values.std()), float(values.min()), float(values.max()))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LatencyStats":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def downsample(samples: Sequence[float], limit: int = 2000) -> list[float]:
    """At most ``limit`` evenly spaced samples of the sorted distribution, for plots."""
    values = np.sort(np.asarray(samples, dtype=np.float64))
    if values.size <= limit:
        return values.round(6).tolist()
    index = np.linspace(0, values.size - 1, limit).round().astype(int)
    return values[index].round(6).tolist()
