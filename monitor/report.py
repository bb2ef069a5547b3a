"""The monitoring report: one status per check, the overall status and its exit code."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from edgekit.monitor.drift import EXIT_CODES, FeatureDrift, Thresholds, worst
from edgekit.monitor.performance import Performance

PREDICTION = "__prediction__"


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


@dataclass
class MonitorReport:
    log: str
    bundle: str
    task: str
    target: str
    model_ids: list[str]
    rows: int
    first: float | None
    last: float | None
    thresholds: Thresholds
    features: list[FeatureDrift]
    prediction: FeatureDrift
    performance: Performance | None = None
    notes: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        statuses = [f.status for f in self.features] + [self.prediction.status]
        if self.performance is not None:
            statuses.append(self.performance.status)
        return worst(statuses)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def drifted(self) -> list[str]:
        """Features (and "prediction") whose status is not ok."""
        names = [f.name for f in self.features if f.status != "ok"]
        return names + (["prediction"] if self.prediction.status != "ok" else [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "created_at": self.created_at,
            "log": self.log,
            "bundle": self.bundle,
            "task": self.task,
            "target": self.target,
            "model_ids": self.model_ids,
            "rows": self.rows,
            "first": iso(self.first),
            "last": iso(self.last),
            "thresholds": self.thresholds.to_dict(),
            "features": [f.to_dict() for f in self.features],
            "prediction": self.prediction.to_dict(),
            "performance": self.performance.to_dict() if self.performance else None,
            "notes": self.notes,
        }

    def to_json(self) -> str:
        return json.dumps(_finite(self.to_dict()), indent=2)

    def drift_rows(self) -> list[tuple]:
        """(feature, kind, rows, missing, PSI, test, statistic, p-value, status) per feature."""
        rows = []
        for f in [*self.features, self.prediction]:
            psi = f.check("psi")
            test = f.check("ks") or f.check("chi2")
            rows.append((
                "prediction" if f.name == PREDICTION else f.name, f.kind, f.rows, f.missing_fraction,
                psi.value if psi else None, test.name if test else None,
                test.value if test else None, test.p_value if test else None, f.status,
            ))
        return rows

    def check_notes(self) -> dict[tuple[str, str], list[str]]:
        """(check, note) -> the features it applies to, so a shared note is shown once."""
        grouped: dict[tuple[str, str], list[str]] = {}
        for f in [*self.features, self.prediction]:
            for c in f.checks:
                if c.note:
                    grouped.setdefault((c.name, c.note), []).append("prediction" if f.name == PREDICTION else f.name)
        return grouped

    def to_markdown(self) -> str:
        lines = [
            f"# Monitoring report: {self.status.upper()}",
            "",
            f"- log: `{self.log}` ({self.rows} predictions, {iso(self.first)} to {iso(self.last)})",
            f"- bundle: `{self.bundle}` ({self.task}, target `{self.target}`)",
            f"- model id(s): {', '.join(m[:12] for m in self.model_ids)}",
            f"- created: {self.created_at}",
            "",
            "## Input and prediction drift",
            "",
            "| feature | kind | rows | missing | PSI | test | statistic | p-value | status |",
            "|---|---|---:|---:|---:|---|---:|---:|---|",
        ]
        for row in self.drift_rows():
            name, kind, n, missing, psi, test, stat, p, status = row
            lines.append(f"| {name} | {kind} | {n} | {missing:.1%} | {_num(psi)} | {test or '-'} | {_num(stat)} | {_num(p)} | **{status}** |")
        notes = self.check_notes()
        if notes:
            lines += ["", *[f"- {check} ({', '.join(names)}): {note}" for (check, note), names in notes.items()]]
        lines += ["", "## Performance", ""]
        perf = self.performance
        if perf is None:
            lines.append("No actuals given (`--actuals FILE --id-column C --target-column T`).")
        else:
            lines += [
                f"- {perf.metric} on the latest window: {_num(perf.latest)} vs {_num(perf.reference)} on the test split "
                f"({_pct(perf.degradation)} worse) → **{perf.status}** ({perf.check.rule})",
                f"- {perf.joined_rows} predictions with actuals, {perf.predictions_without_actuals} without; "
                f"{perf.unmatched_actuals} actual(s) matched no logged request",
                "- overall: " + ", ".join(f"{k} {_num(v)}" for k, v in perf.overall.items()),
                "",
                "| window | rows | from | to | " + " | ".join(perf.windows[0]["metrics"]) + " |",
                "|---:|---:|---|---|" + "---:|" * len(perf.windows[0]["metrics"]),
            ]
            for w in perf.windows:
                lines.append(f"| {w['index']} | {w['rows']} | {iso(w['start'])} | {iso(w['end'])} | "
                             + " | ".join(_num(v) for v in w["metrics"].values()) + " |")
            lines += [f"- {note}" for note in ([perf.check.note] if perf.check.note else []) + perf.notes]
        t = self.thresholds
        lines += [
            "",
            "## Thresholds",
            "",
            f"- PSI: warn >= {t.psi_warn}, alert >= {t.psi_alert}"
            + (f", raised to PSI's no-drift {t.psi_noise[0]:.1%} / {t.psi_noise[1]:.1%} quantiles for small samples" if t.psi_noise else ""),
            f"- KS: warn p < {t.ks_alpha}, alert p < {t.ks_alpha_alert}; chi-square: warn p < {t.chi2_alpha}, alert p < {t.chi2_alpha_alert}",
            f"- metric: warn {t.metric_warn:.0%}, alert {t.metric_alert:.0%} worse than the test split (relative)",
            "- exit code: 0 ok, 1 warn, 3 alert",
        ]
        if self.notes:
            lines += ["", "## Notes", "", *[f"- {n}" for n in self.notes]]
        return "\n".join(lines) + "\n"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.3g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4g}"
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def _finite(value: Any) -> Any:
    """JSON has no NaN/Infinity: write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
