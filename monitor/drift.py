"""Per-feature drift checks of live values against a model card's training summaries.

Numeric features (and regression predictions): PSI on the card's decile bins plus a
two-sample KS test against the training rows. Categorical features (and predicted
classes): PSI and a chi-square test on the category counts. A missing-value bin joins
both when either side has missing values; live categories never seen in training share
one "(unseen)" bin.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np

from edgekit.monitor import stats
from edgekit.runtime.errors import ConfigError

STATUSES = ("ok", "warn", "alert")
EXIT_CODES = {"ok": 0, "warn": 1, "alert": 3}
MISSING_BIN = "(missing)"
UNSEEN_BIN = "(unseen)"


def worst(statuses: Iterable[str]) -> str:
    ranked = [STATUSES.index(s) for s in statuses]
    return STATUSES[max(ranked)] if ranked else "ok"


@dataclass(frozen=True)
class Thresholds:
    """When a check warns or alerts. Defaults:

    * PSI: warn >= 0.1, alert >= 0.25 (the usual rule of thumb), raised to PSI's own
      sampling noise where that is higher: warn needs PSI above its 99th percentile
      under no drift, alert above its 99.9th (``psi_noise``, see
      :mod:`edgekit.monitor.stats`; None disables it). Without this a 100-row window
      against a 200-row training set would warn on noise alone;
    * KS and chi-square: warn when p < 0.01, alert when p < 0.001 (per feature);
    * task metric: warn when the latest window is 10% worse than the card's test metric
      (relative), alert at 20%; windows with fewer than ``min_metric_rows`` rows are
      not graded.
    """

    psi_warn: float = 0.1
    psi_alert: float = 0.25
    psi_noise: tuple[float, float] | None = (0.99, 0.999)
    ks_alpha: float = 0.01
    ks_alpha_alert: float = 0.001
    chi2_alpha: float = 0.01
    chi2_alpha_alert: float = 0.001
    metric_warn: float = 0.10
    metric_alert: float = 0.20
    min_metric_rows: int = 10

    def __post_init__(self) -> None:
        pairs = (
            ("psi_warn", "psi_alert", self.psi_warn, self.psi_alert, True),
            ("ks_alpha", "ks_alpha_alert", self.ks_alpha, self.ks_alpha_alert, False),
            ("chi2_alpha", "chi2_alpha_alert", self.chi2_alpha, self.chi2_alpha_alert, False),
            ("metric_warn", "metric_alert", self.metric_warn, self.metric_alert, True),
        )
        for warn_name, alert_name, warn, alert, rising in pairs:
            if not (math.isfinite(warn) and math.isfinite(alert)) or warn < 0 or alert < 0:
                raise ConfigError(f"{warn_name} and {alert_name} must be non-negative numbers, got {warn} and {alert}")
            if rising and alert < warn:
                raise ConfigError(f"{alert_name} ({alert}) must be at least {warn_name} ({warn})")
            if not rising and (alert > warn or warn >= 1):
                raise ConfigError(f"p-value thresholds need {alert_name} ({alert}) <= {warn_name} ({warn}) < 1")
        if self.psi_noise is not None:
            if len(self.psi_noise) != 2 or not 0 < self.psi_noise[0] <= self.psi_noise[1] < 1:
                raise ConfigError(f"psi_noise must be two quantiles 0 < warn <= alert < 1, got {self.psi_noise}")
        if self.min_metric_rows < 1:
            raise ConfigError(f"min_metric_rows must be at least 1, got {self.min_metric_rows}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Check:
    """One graded test: ``value`` is PSI, the KS or chi-square statistic, or a metric."""

    name: str
    status: str
    value: float
    p_value: float | None = None
    rule: str = ""
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FeatureDrift:
    """The drift checks of one feature, and the binned distributions they compared."""

    name: str
    kind: str
    rows: int
    missing_fraction: float
    reference_missing_fraction: float
    checks: list[Check]
    bins: list[str] = field(default_factory=list)
    expected: list[float] = field(default_factory=list)
    actual: list[float] = field(default_factory=list)
    live_mean: float | None = None
    reference_mean: float | None = None

    @property
    def status(self) -> str:
        return worst(c.status for c in self.checks)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status
        return data


def psi_epsilon(n_live: int) -> float:
    """The fraction an empty bin counts as: half a live row, at least ``stats.EPSILON``.

    A fixed 1e-4 makes one empty bin worth ~0.7 of PSI whatever the sample size, so a
    small window that merely misses a 10% bin would alert; half a row is the usual
    continuity correction and tends to 1e-4 as windows grow."""
    return max(stats.EPSILON, 0.5 / max(n_live, 1))


def grade_psi(value: float, n_bins: int, n_reference: int, n_live: int, thresholds: Thresholds) -> Check:
    warn_at, alert_at = thresholds.psi_warn, thresholds.psi_alert
    note = None
    if thresholds.psi_noise is not None:
        warn_noise, alert_noise = (stats.psi_noise(n_bins, n_reference, n_live, q) for q in thresholds.psi_noise)
        if warn_noise > warn_at or alert_noise > alert_at:
            note = f"thresholds raised to PSI's sampling noise for {n_live} live vs {n_reference} training rows"
        warn_at, alert_at = max(warn_at, warn_noise), max(alert_at, alert_noise)
    status = "alert" if value >= alert_at else "warn" if value >= warn_at else "ok"
    return Check("psi", status, value, None, f"warn >= {warn_at:.3g}, alert >= {alert_at:.3g}", note)


def grade_p(name: str, statistic: float, p_value: float, warn_below: float, alert_below: float) -> Check:
    status = "alert" if p_value < alert_below else "warn" if p_value < warn_below else "ok"
    return Check(name, status, statistic, p_value, f"warn p < {warn_below:g}, alert p < {alert_below:g}")


def numeric_drift(
    name: str, live: np.ndarray, summary: dict[str, Any], reference: np.ndarray | None, thresholds: Thresholds
) -> FeatureDrift:
    """PSI on the card's bins and KS against ``reference`` (training values; when None, a
    pseudo-sample from the card's percentiles)."""
    live = np.asarray(live, dtype=np.float64)
    n = len(live)
    missing = np.isnan(live)
    present = live[~missing]
    ref_missing = float(summary.get("missing_fraction", 0.0))
    n_ref = int(summary.get("count", 0))
    edges = list(summary.get("bin_edges") or [])
    if not edges:
        raise ValueError(f"feature {name!r}: the model card has no bins for it")
    if len(edges) == 1:  # a constant in training: below / equal / above it
        c = edges[0]
        bins = [f"< {c:.4g}", f"= {c:.4g}", f"> {c:.4g}"]
        expected = [0.0, 1.0, 0.0]
        counts = np.array([(present < c).sum(), (present == c).sum(), (present > c).sum()])
    else:
        bins = _bin_labels(edges)
        expected = list(summary["bin_fractions"])
        counts = stats.bin_counts(present, edges)
    expected = [f * (1 - ref_missing) for f in expected]
    counts = counts.astype(np.float64)
    if ref_missing > 0 or missing.any():
        bins, expected = bins + [MISSING_BIN], expected + [ref_missing]
        counts = np.append(counts, float(missing.sum()))
    actual = (counts / max(n, 1)).tolist()
    value = stats.psi(expected, counts, epsilon=psi_epsilon(n)) if n else 0.0
    checks = [grade_psi(value, len(bins), n_ref, n, thresholds)]
    note = None
    if reference is None and summary.get("quantiles"):
        reference = stats.reference_from_quantiles(summary["quantiles"], int(n_ref * (1 - ref_missing)))
        note = "reference is a pseudo-sample from the card's percentiles"
    if reference is not None and len(present) and np.isfinite(reference).any():
        result = stats.ks(reference, present)
        check = grade_p("ks", result.statistic, result.p_value, thresholds.ks_alpha, thresholds.ks_alpha_alert)
        check.note = note
        checks.append(check)
    return FeatureDrift(
        name, "numeric", n, float(missing.mean()) if n else 0.0, ref_missing, checks, bins, expected, actual,
        live_mean=float(present.mean()) if len(present) else None, reference_mean=summary.get("mean"),
    )


def categorical_drift(name: str, live: np.ndarray, summary: dict[str, Any], thresholds: Thresholds) -> FeatureDrift:
    """PSI and chi-square of live category labels (strings, '' = missing) against the
    card's frequencies."""
    labels = np.asarray(live, dtype=object)
    n = len(labels)
    frequencies: dict[str, float] = dict(summary.get("frequencies") or {})
    ref_missing = float(summary.get("missing_fraction", 0.0))
    n_ref = int(summary.get("count", 0))
    values, counts = np.unique(labels.astype(str), return_counts=True) if n else (np.array([]), np.array([]))
    live_counts = dict(zip(values.tolist(), counts.tolist()))
    n_missing = live_counts.pop("", 0)
    bins = list(frequencies)
    expected = [frequencies[b] * (1 - ref_missing) for b in bins]
    actual_counts = [float(live_counts.get(b, 0)) for b in bins]
    unseen = sum(c for v, c in live_counts.items() if v not in frequencies)
    if unseen:
        bins, expected, actual_counts = bins + [UNSEEN_BIN], expected + [0.0], actual_counts + [float(unseen)]
    if ref_missing > 0 or n_missing:
        bins, expected, actual_counts = bins + [MISSING_BIN], expected + [ref_missing], actual_counts + [float(n_missing)]
    actual = [c / max(n, 1) for c in actual_counts]
    value = stats.psi(expected, actual_counts, epsilon=psi_epsilon(n)) if n else 0.0
    checks = [grade_psi(value, len(bins), n_ref, n, thresholds)]
    if n and n_ref:
        reference_counts = np.round(np.asarray(expected) * n_ref)
        result = stats.chi_square(reference_counts, actual_counts)
        check = grade_p("chi2", result.statistic, result.p_value, thresholds.chi2_alpha, thresholds.chi2_alpha_alert)
        if unseen:
            check.note = f"{unseen} live row(s) hold categories never seen in training"
        checks.append(check)
    return FeatureDrift(name, "categorical", n, n_missing / max(n, 1), ref_missing, checks, bins, expected, actual)


def category_labels(values: np.ndarray, *, is_string: bool) -> np.ndarray:
    """Live values as the card's category keys: strings, integral numbers without '.0',
    '' for missing."""
    if is_string:
        return np.asarray(values, dtype=object)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(np.asarray(values, dtype=np.float64).tolist()):
        out[i] = "" if v != v else (str(int(v)) if float(v).is_integer() else str(v))
    return out


def _bin_labels(edges: list[float]) -> list[str]:
    labels = []
    last = len(edges) - 2
    for i in range(len(edges) - 1):
        lo, hi = edges[i], edges[i + 1]
        if i == 0 and i == last:
            labels.append("all")
        elif i == 0:
            labels.append(f"< {hi:.4g}")
        elif i == last:
            labels.append(f">= {lo:.4g}")
        else:
            labels.append(f"[{lo:.4g}, {hi:.4g})")
    return labels
