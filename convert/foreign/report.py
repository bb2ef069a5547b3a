"""The foreign conversion report: one row per export, as JSON and Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgekit.convert.report import ConversionReport, ExportResult, _kb, _num, _ratio, _verdict
from edgekit.runtime.tensors import TensorSpec


@dataclass
class VariantResult(ExportResult):
    """A bundle export's row plus the size against the source; ``parity`` holds the gate's result."""

    size_vs_source: float | None = None  # to the source file (or folder)


COLUMNS = ["format", "quantisation", "size", "vs source", "vs fp32", "max abs error", "cosine", "top-1 agreement",
           "accuracy", "result"]


@dataclass
class ForeignReport(ConversionReport):
    """``bundle`` is the source's path; ``gate`` says on which rows and by which rule exports were judged."""

    gate: dict[str, Any] = field(default_factory=dict)  # rows, inputs, batch, rule

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "foreign", **super().to_dict(), "gate": self.gate}

    def rows(self) -> list[list[Any]]:
        out = []
        for r in self.results:
            values = list((r.parity or {}).get("outputs", {}).values())
            out.append([r.format, r.quantization, _kb(r.size_bytes), _ratio(r.size_vs_source), _ratio(r.size_vs_fp32),
                        _num(_worst(values, "max_abs_error", max)), _fixed(_worst(values, "cosine", min), 4),
                        _pct(_worst(values, "top1_agreement", min)), _accuracy(values), _verdict(r)])
        return out

    def to_markdown(self) -> str:
        s = self.source
        ins = ", ".join(f"{i['name']} {TensorSpec.from_dict(i).shape_text()} {i['dtype']}" for i in s.get("inputs", []))
        lines = [
            f"# Conversion report: {s.get('file')}",
            "",
            f"Source: {s.get('kind')} ({s.get('framework')}), {_kb(s.get('size_bytes'))}, sha256 {str(s.get('sha256'))[:12]}…; "
            f"inputs {ins}; outputs {', '.join(s.get('outputs', []))}.",
            "",
            f"Gate on {self.gate.get('rows')} rows of {self.gate.get('inputs')}, {self.gate.get('batch')} row(s) per "
            f"call of each export. Rule: {self.gate.get('rule')}. "
            "Metrics are the worst over the outputs; conversion.json has them per output.",
            "",
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "---|" * len(COLUMNS),
        ]
        lines += ["| " + " | ".join(str(v) if v is not None else "-" for v in row) + " |" for row in self.rows()]
        notes = [r for r in self.results if r.reason]
        if notes:
            lines += ["", "## Notes", ""]
            lines += [f"- **{r.name}** ({r.status}): {r.reason}" for r in notes]
        return "\n".join(lines) + "\n"


def _worst(values: list[dict[str, Any]], metric: str, pick) -> float | None:
    found = [v[metric] for v in values if v.get(metric) is not None]
    return pick(found) if found else None


def _fixed(value: float | None, digits: int) -> str | None:
    return None if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value:.1%}"


def _accuracy(values: list[dict[str, Any]]) -> str | None:
    pairs = [(v["source_accuracy"], v["export_accuracy"]) for v in values if v.get("export_accuracy") is not None]
    if not pairs:
        return None
    return ", ".join(f"{a:.1%} → {b:.1%}" for a, b in pairs)
