"""The conversion report: one row per (format, quantisation), as JSON and Markdown."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("passed", "rejected", "not_applicable", "failed")


@dataclass
class ExportResult:
    name: str
    format: str
    quantization: str
    status: str
    reason: str | None = None
    path: str | None = None  # relative to the report's folder
    size_bytes: int | None = None
    size_vs_fp32: float | None = None
    sha256: str | None = None
    parity: dict[str, Any] | None = None
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "not_applicable")


@dataclass
class ConversionReport:
    bundle: str
    out: str
    source: dict[str, Any]
    options: dict[str, Any]
    results: list[ExportResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def exports(self) -> list[ExportResult]:
        return [r for r in self.results if r.status == "passed"]

    @property
    def rejected(self) -> list[ExportResult]:
        return [r for r in self.results if r.status in ("rejected", "failed")]

    def to_dict(self) -> dict[str, Any]:
        return {"bundle": self.bundle, "out": self.out, "source": self.source, "options": self.options,
                "passed": self.passed, "results": [asdict(r) for r in self.results]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def rows(self) -> list[list[Any]]:
        out = []
        for r in self.results:
            p = r.parity or {}
            metric = f"{p['source_metric']:.4g} → {p['export_metric']:.4g}" if p else None
            out.append([r.format, r.quantization, _kb(r.size_bytes), _ratio(r.size_vs_fp32),
                        _num(p.get("max_abs_error")), metric, _verdict(r)])
        return out

    def to_markdown(self) -> str:
        metric = self.source.get("metric", "metric")
        lines = [
            f"# Conversion report: {self.source.get('name', self.bundle)}",
            "",
            f"Source: {self.source.get('framework')} {self.source.get('family')} ({self.source.get('task')}), "
            f"parity on {self.source.get('test_rows')} test rows; gate: float32 max abs error <= 1e-4 x target scale, "
            f"quantised {metric} within {self.options.get('max_degradation')}% of the source.",
            "",
            f"| format | quantisation | size | vs fp32 | max abs error | {metric} source → export | result |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(str(v) if v is not None else "-" for v in row) + " |" for row in self.rows()]
        notes = [r for r in self.results if r.reason]
        if notes:
            lines += ["", "## Notes", ""]
            lines += [f"- **{r.name}** ({r.status}): {r.reason}" for r in notes]
        return "\n".join(lines) + "\n"


COLUMNS = ["format", "quantisation", "size", "vs fp32", "max abs error", "metric source → export", "result"]


def _kb(size: int | None) -> str | None:
    return None if size is None else f"{size / 1024:.1f} KB"


def _ratio(value: float | None) -> str | None:
    return None if value is None else f"{value:.0%}"


def _num(value: float | None) -> str | None:
    return None if value is None else f"{value:.3g}"


def _verdict(r: ExportResult) -> str:
    return {"passed": "pass", "rejected": "REJECTED", "failed": "FAILED", "not_applicable": "n/a"}[r.status]
