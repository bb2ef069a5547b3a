"""Retrain-and-promote: a challenger trained the champion's way on old + new data wins only
if it is better on a fresh holdout from the new data and its exports still pass the gate.

Output layout (written as a whole, atomically)::

    OUT/bundle/            the challenger bundle, with OUT/bundle/exports/
    OUT/retrain.json, OUT/retrain.md
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgekit.console import progress
from edgekit.runtime.errors import ConfigError, DataError
from edgekit.runtime.io import atomic_directory, write_text

POLICIES = ("better", "always", "never")
HOLDOUT_FRACTION = 0.3


@dataclass
class RetrainReport:
    champion: str
    challenger: str
    metric: str
    greater_is_better: bool
    holdout_rows: int
    old_rows: int
    new_rows: int
    champion_score: float
    challenger_score: float
    gate_passed: bool
    gate_detail: dict[str, str]
    policy: str
    promoted: bool
    reason: str
    new_data_sha256: str
    bench: dict[str, Any] = field(default_factory=dict)
    registry: dict[str, Any] | None = None

    @property
    def improvement_pct(self) -> float:
        worse = (self.champion_score - self.challenger_score) if self.greater_is_better else (self.challenger_score - self.champion_score)
        return -100.0 * worse / max(abs(self.champion_score), 1e-12)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "improvement_pct": self.improvement_pct}

    def to_markdown(self) -> str:
        verdict = "PROMOTED" if self.promoted else "kept the champion"
        lines = [
            f"# Retrain: {verdict}",
            "",
            f"{self.reason}",
            "",
            f"Fresh holdout: {self.holdout_rows} rows of the new data, seen by neither model. "
            f"Challenger trained on {self.old_rows} old + {self.new_rows - self.holdout_rows} new rows.",
            "",
            f"| model | holdout {self.metric} |",
            "|---|---|",
            f"| champion ({self.champion}) | {self.champion_score:.4g} |",
            f"| challenger ({self.challenger}) | {self.challenger_score:.4g} |",
            "",
            f"Change: {self.improvement_pct:+.1f}% ({'higher' if self.greater_is_better else 'lower'} is better). "
            f"Parity gate for the challenger's exports: {'passed' if self.gate_passed else 'FAILED'}.",
        ]
        if self.gate_detail:
            lines += ["", "| export | champion | challenger |", "|---|---|---|"]
            lines += [f"| {name} | {status.split(' -> ')[0]} | {status.split(' -> ')[-1]} |" for name, status in self.gate_detail.items()]
        if self.bench:
            lines += ["", "| challenger export | p50 ms (batch 1) | size KB |", "|---|---|---|"]
            lines += [f"| {name} | {b['p50_ms']:.4g} | {b['size_kb']:.1f} |" for name, b in self.bench.items()]
        if self.registry:
            lines += ["", f"Registry {self.registry['root']}: challenger is version {self.registry['challenger']} "
                          f"(parent {self.registry['champion']}); production: {self.registry['production']}."]
        return "\n".join(lines) + "\n"


def retrain(champion_path: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike, *,
            policy: str = "better", registry: str | os.PathLike | None = None, holdout_fraction: float = HOLDOUT_FRACTION,
            quick: bool | None = None, bench: bool = True, force: bool = False, show_progress: bool | None = None) -> RetrainReport:
    from edgekit.train import TrainConfig, load_bundle, load_dataset, train
    from edgekit.train.metrics import get_metric
    from edgekit.train.prepare import clean

    if policy not in POLICIES:
        raise ConfigError(f"--promote-if must be one of {POLICIES}")
    if not 0.05 <= holdout_fraction <= 0.8:
        raise ConfigError("--holdout-fraction must be between 0.05 and 0.8")
    champion = load_bundle(champion_path)
    card = champion.card
    columns = card.schema.names + [card.target]
    dataset = load_dataset(data)
    missing = [c for c in columns if c not in dataset.frame.columns]
    if missing:
        raise DataError(f"{data}: the new data lacks column(s) {missing} the champion was trained on")
    new, _ = clean(dataset.frame, card.target)
    holdout, new_train = _holdout(new[columns], card.target, card.task, holdout_fraction, card.seed)
    old = pd.concat([champion.split("train"), champion.split("test")], ignore_index=True)[columns]
    if card.task == "classification":
        unseen = set(holdout[card.target].astype(str)) - {str(label) for label in card.labels}
        if unseen:
            raise DataError(f"the new data has label(s) {sorted(unseen)} the champion never saw; retrain from scratch instead")
    metric = get_metric(card.metric["name"], card.task)
    config = TrainConfig.from_dict({**card.config, **({"quick": quick} if quick is not None else {})})
    out = Path(out)
    with atomic_directory(out, replace=force) as tmp:
        # The combined data stays inside the atomic temp folder: a killed retrain leaves no
        # copy of the training data anywhere else.
        combined_path = tmp / ".combined.csv"
        pd.concat([old, new_train], ignore_index=True).to_csv(combined_path, index=False)
        with progress("training the challenger", total=1, show=show_progress) as bar:
            result = train(combined_path, config, show_progress=show_progress)
            bar.advance()
        combined_path.unlink()
        challenger_dir = result.save(tmp / "bundle")
        challenger = load_bundle(challenger_dir)
        champion_score = _score(champion, holdout, metric)
        challenger_score = _score(challenger, holdout, metric)
        gate_passed, detail = _convert_like(champion, challenger, show_progress)
        timings = _bench(challenger_dir, show_progress) if bench and gate_passed else {}
        better = metric.better(challenger_score, champion_score)
        promoted = policy == "always" or (policy == "better" and better and gate_passed)
        reason = _reason(policy, better, gate_passed, metric.name, champion_score, challenger_score)
        report = RetrainReport(
            champion=f"{card.winner['name']} ({Path(champion_path).name})", challenger=result.card.winner["name"],
            metric=metric.name, greater_is_better=metric.greater_is_better, holdout_rows=len(holdout), old_rows=len(old),
            new_rows=len(new), champion_score=champion_score, challenger_score=challenger_score, gate_passed=gate_passed,
            gate_detail=detail, policy=policy, promoted=promoted, reason=reason, new_data_sha256=dataset.fingerprint,
            bench=timings,
        )
        _write(tmp, report)
    if registry is not None:
        # Recorded once the challenger bundle is in its final place.
        report.registry = _record(Path(registry), Path(champion_path), out / "bundle", report)
        _write(out, report)
    return report


def _write(folder: Path, report: RetrainReport) -> None:
    write_text(folder / "retrain.json", json.dumps(report.to_dict(), indent=2, default=str))
    write_text(folder / "retrain.md", report.to_markdown())


def _holdout(frame: pd.DataFrame, target: str, task: str, fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

    if len(frame) < 10:
        raise DataError(f"only {len(frame)} new rows; a fair comparison needs at least 10")
    stratify = frame[target] if task == "classification" and frame[target].value_counts().min() >= 2 else None
    holdout, rest = train_test_split(frame, train_size=fraction, random_state=seed, stratify=stratify)
    return holdout, rest


def _score(bundle, holdout: pd.DataFrame, metric) -> float:
    output = bundle.source_model().predict_frame(holdout)
    if bundle.card.task == "regression":
        return metric.fn(holdout[bundle.card.target].to_numpy(dtype=float), output)
    index = {str(label): i for i, label in enumerate(bundle.card.labels)}
    truth = np.asarray([index[str(v)] for v in holdout[bundle.card.target]])
    return metric.fn(truth, np.argmax(output, axis=1))


def _convert_like(champion, challenger, show_progress) -> tuple[bool, dict[str, str]]:
    """Convert the challenger with the champion's conversion settings; it must pass at
    least every export the champion passed (or all, if the champion has none)."""
    from edgekit.convert import ConvertOptions, convert

    previous = champion.path / "exports" / "conversion.json"
    champion_status: dict[str, str] = {}
    options = ConvertOptions()
    if previous.is_file():
        recorded = json.loads(previous.read_text(encoding="utf-8"))
        champion_status = {r["name"]: r["status"] for r in recorded["results"]}
        settings = recorded.get("options", {})
        options = ConvertOptions(
            formats=tuple(sorted({r["format"] for r in recorded["results"]})),
            quantizations=tuple(dict.fromkeys(r["quantization"] for r in recorded["results"])),
            calibration_method=settings.get("calibration_method", "minmax"),
            per_channel=bool(settings.get("per_channel", False)), int8_io=settings.get("int8_io", "float"),
            max_degradation=float(settings.get("max_degradation", 2.0)), target_runtime=settings.get("target_runtime"),
        )
    if champion.framework != challenger.framework:
        options = ConvertOptions(max_degradation=options.max_degradation)
    report = convert(challenger.path, options=options, show_progress=show_progress)
    detail = {r.name: f"{champion_status.get(r.name, '-')} -> {r.status}" for r in report.results}
    required = [name for name, status in champion_status.items() if status == "passed"] or [r.name for r in report.results]
    ours = {r.name: r.status for r in report.results}
    passed = all(ours.get(name) in ("passed", "not_applicable") for name in required) and bool(report.exports)
    return passed, detail


def _bench(bundle_dir: Path, show_progress) -> dict[str, Any]:
    from edgekit.benchmarks.api import BenchOptions, run_bench

    report = run_bench(bundle_dir, BenchOptions(quick=True, cloud=False), show_progress=show_progress)
    return {r["name"]: {"p50_ms": r["latency_ms"]["p50"], "size_kb": r["size_bytes"] / 1024, "metric": r["metric"]}
            for r in report["edge"]}


def _reason(policy: str, better: bool, gate: bool, metric: str, champion: float, challenger: float) -> str:
    comparison = f"holdout {metric} {champion:.4g} (champion) vs {challenger:.4g} (challenger)"
    if policy == "always":
        return f"Promoted because --promote-if always; {comparison}."
    if policy == "never":
        return f"Not promoted (--promote-if never); {comparison}."
    if not better:
        return f"Champion kept: the challenger is not better ({comparison})."
    if not gate:
        return f"Champion kept: the challenger is better ({comparison}) but its exports fail the parity gate."
    return f"Challenger promoted: better on the fresh holdout ({comparison}) and its exports pass the parity gate."


def _record(root: Path, champion_path: Path, challenger_path: Path, report: RetrainReport) -> dict[str, Any]:
    """Register champion (once) and challenger with lineage; promote per the decision."""
    from edgekit.monitor.registry import Registry, bundle_fingerprint

    registry = Registry(root)
    fingerprint = bundle_fingerprint(champion_path)
    champion = next((v for v in registry.list() if v.bundle_sha256 == fingerprint), None)
    if champion is None:
        champion = registry.register(champion_path, notes="champion, registered by retrain")
    holdout = {"metric": report.metric, "rows": report.holdout_rows, "champion": report.champion_score,
               "challenger": report.challenger_score}
    challenger = registry.register(challenger_path, parent=champion.id, metrics=holdout, new_data_sha256=report.new_data_sha256,
                                   notes=report.reason, promote=report.promoted)
    production = registry.production()
    return {"root": str(root), "champion": champion.name, "challenger": challenger.name,
            "production": production.name if production else None, "bundle": str(challenger_path)}
