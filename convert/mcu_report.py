"""The microcontroller section of a conversion report: one row per MCU artifact.

A row says what the model costs on the chip (flash, RAM), which kernels it needs, how
closely the MCU build reproduces its reference (TFLM vs LiteRT's built-in kernels, or
emlearn's C vs scikit-learn) and whether it fits the budget. ``to_markdown`` is the table
``conversion.md`` includes; ``to_dict`` the JSON rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgekit.convert.mcu_budget import McuBudget
from edgekit.convert.parity import ERROR_FLOOR, _degradation_pct

STATUSES = ("passed", "rejected", "failed", "not_applicable")


@dataclass
class McuResult:
    name: str  # e.g. "tflm-int8", "emlearn-rf"
    target: str  # "tflm" | "emlearn"
    status: str = "passed"
    reason: str | None = None
    source: str | None = None  # the model file or estimator it came from
    precision: str | None = None  # "int8", "int8, float I/O", "float32", "float thresholds"
    flash_bytes: int | None = None  # model bytes (TFLM) or code + constants (emlearn, Cortex-M4F)
    arena_bytes: int | None = None  # TFLM: smallest arena that allocates and runs
    ram_bytes: int | None = None  # what the firmware reserves: kTensorArenaSize, or .data + .bss
    ops: list[str] = field(default_factory=list)
    parity: dict[str, Any] | None = None
    metric: dict[str, Any] | None = None
    budget: dict[str, Any] | None = None
    sizes: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    artifacts: str | None = None  # folder of the C files, relative to the report
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "not_applicable")

    def refuse(self, status: str, reason: str) -> "McuResult":
        self.status, self.reason = status, reason
        return self

    def settle(self, budget: McuBudget, *, reasons: list[str], notes: list[str] = (), ram_what: str = "the tensor arena",
               flash_what: str = "model") -> "McuResult":
        """Record the budget check and the verdict: over budget is a failure, a lost
        parity or metric a rejection; ``notes`` explain a pass."""
        problems = budget.problems(flash=self.flash_bytes, ram=self.ram_bytes, ram_what=ram_what, flash_what=flash_what)
        measured = self.flash_bytes is not None or self.ram_bytes is not None
        self.budget = {**budget.to_dict(), "fits": (not problems) if measured else None, "problems": problems}
        if problems:
            return self.refuse("failed", "; ".join(problems + list(reasons)))
        if reasons:
            return self.refuse("rejected", "; ".join(reasons))
        if notes:
            self.reason = "; ".join(notes)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge_metric(metric: Any, y_true: np.ndarray, predicted: np.ndarray, *, source_metric: float | None = None,
                 target_scale: float = 1.0, max_degradation: float = 2.0, where: str = "on the MCU") -> dict[str, Any]:
    """The task metric of MCU predictions, and, given the source's, the conversion gate's
    verdict on it (relative loss within ``max_degradation`` percent)."""
    value = float(metric.fn(np.asarray(y_true), predicted))
    out: dict[str, Any] = {"name": metric.name, "mcu": value}
    if source_metric is not None:
        floor = 0.0 if metric.greater_is_better else ERROR_FLOOR * target_scale
        degradation = _degradation_pct(source_metric, value, metric.greater_is_better, floor)
        passed = degradation <= max_degradation
        out.update(source=float(source_metric), degradation_pct=degradation, passed=passed,
                   reason=None if passed else f"{metric.name} went from {source_metric:.4g} (source) to {value:.4g} "
                                               f"{where} ({degradation:.1f}% worse, limit {max_degradation:g}%)")
    return out


@dataclass
class McuReport:
    budget: McuBudget
    results: list[McuResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[McuResult]:
        return [r for r in self.results if not r.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"budget": self.budget.to_dict(), "passed": self.passed, "results": [r.to_dict() for r in self.results]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def rows(self) -> list[list[Any]]:
        return [[r.target, r.name, r.precision, _bytes(r.flash_bytes), _ram(r), _ops(r.ops), _parity(r.parity),
                 _metric(r.metric), _budget(r.budget), _VERDICT[r.status]] for r in self.results]

    def to_markdown(self, heading: str = "## Microcontroller targets") -> str:
        budget = self.budget
        limits = ", ".join(f"{k} {_bytes(v)}" for k, v in (("RAM", budget.ram_bytes), ("flash", budget.flash_bytes)) if v)
        lines = [heading, "",
                 "Flash: the model's bytes (TFLM) or its code and constants compiled for a Cortex-M4F (emlearn). "
                 "RAM: the tensor arena reserved (measured minimum in brackets) or static data. "
                 "Parity: TFLM against LiteRT's built-in kernels (no XNNPACK; they round as TFLM does), emlearn's C against scikit-learn. "
                 "Metric: the source model's (LiteRT's without one) → the MCU build's. "
                 f"Budget: {limits or 'none given'}; the TFLM library and the rest of the firmware come on top.", "",
                 "| target | name | precision | flash | RAM | ops | parity | metric reference → MCU | budget | result |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join("-" if v is None else str(v) for v in row) + " |" for row in self.rows()]
        notes = [r for r in self.results if r.reason]
        if notes:
            lines += ["", "Notes:", ""] + [f"- **{r.name}** ({r.status}): {r.reason}" for r in notes]
        return "\n".join(lines) + "\n"


COLUMNS = ["target", "name", "precision", "flash", "RAM", "ops", "parity", "metric reference → MCU", "budget", "result"]
_VERDICT = {"passed": "pass", "rejected": "REJECTED", "failed": "FAILED", "not_applicable": "n/a"}


def _bytes(n: int | None) -> str | None:
    if n is None:
        return None
    return f"{n:,} B" if n < 1024 else f"{n / 1024:.1f} KiB"


def _ram(r: McuResult) -> str | None:
    if r.ram_bytes is None:
        return _bytes(r.arena_bytes)
    if r.arena_bytes is not None and r.arena_bytes != r.ram_bytes:
        return f"{_bytes(r.ram_bytes)} ({r.arena_bytes:,} B)"
    return _bytes(r.ram_bytes)


def _ops(ops: list[str]) -> str | None:
    return ", ".join(ops) if ops else None


def _parity(p: dict[str, Any] | None) -> str | None:
    if not p:
        return None
    return f"{p['agreement']:.1%} of {p['rows']} rows {p['within']}"


def _metric(m: dict[str, Any] | None) -> str | None:
    if not m or m.get("mcu") is None:
        return None
    reference = m.get("source", m.get("reference"))
    start = f"{reference:.4g} → " if reference is not None else ""
    return f"{m['name']} {start}{m['mcu']:.4g}"


def _budget(b: dict[str, Any] | None) -> str | None:
    if not b or b.get("fits") is None:
        return None
    return "fits" if b["fits"] else "OVER"
