"""edgekit.monitor: drift and performance monitoring of logged predictions, and the model registry.

>>> from edgekit.monitor import run_monitor
>>> report = run_monitor("predictions.db", "bundles/auto-mpg-mpg", out="monitor-report")
>>> report.status, report.exit_code

Names load lazily, so ``edgekit registry`` does not import scipy or pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_monitor": "edgekit.monitor.api",
    "MonitorReport": "edgekit.monitor.report",
    "Thresholds": "edgekit.monitor.drift",
    "FeatureDrift": "edgekit.monitor.drift",
    "Check": "edgekit.monitor.drift",
    "Performance": "edgekit.monitor.performance",
    "psi": "edgekit.monitor.stats",
    "ks": "edgekit.monitor.stats",
    "chi_square": "edgekit.monitor.stats",
    "StatResult": "edgekit.monitor.stats",
    "Registry": "edgekit.monitor.registry",
    "Version": "edgekit.monitor.registry",
    "RegistryError": "edgekit.monitor.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgekit.monitor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
