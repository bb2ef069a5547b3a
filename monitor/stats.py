"""Drift statistics as pure functions: PSI, two-sample KS, chi-square test of homogeneity.

PSI (population stability index) over bins with expected fractions ``e`` and actual
fractions ``a``::

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

An empty bin (fraction 0 on either side) counts as ``epsilon`` = 1e-4 instead, without
renormalising the others, so PSI stays finite: a bin holding 10% of the training rows
and none of the live rows then contributes (1e-4 - 0.1) * ln(1e-4 / 0.1) = 0.69.

PSI grows with sampling noise on small samples: with ``B`` bins, ``n`` reference and
``m`` live rows and no drift, PSI is approximately (1/n + 1/m) * chi2(B - 1) distributed
(Yurdakul 2018, "Statistical properties of the population stability index").
:func:`psi_noise` gives that distribution's quantile; the monitor does not grade a PSI
below it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPSILON = 1e-4


@dataclass(frozen=True)
class StatResult:
    """A test statistic with its p-value (and degrees of freedom where they apply)."""

    statistic: float
    p_value: float
    dof: int | None = None


def _fractions(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if not len(arr) or np.any(~np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative finite counts or fractions, got {arr.tolist()}")
    total = arr.sum()
    if total <= 0:
        raise ValueError(f"{name} sums to zero")
    return arr / total


def psi(expected, actual, *, epsilon: float = EPSILON) -> float:
    """PSI between two distributions over the same bins (counts or fractions, normalised here)."""
    e = _fractions(expected, "expected")
    a = _fractions(actual, "actual")
    if e.shape != a.shape:
        raise ValueError(f"expected has {len(e)} bins, actual {len(a)}")
    e = np.where(e > 0, e, epsilon)
    a = np.where(a > 0, a, epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_noise(n_bins: int, n_reference: int, n_live: int, quantile: float = 0.99) -> float:
    """The ``quantile`` of PSI under no drift for these bin and sample counts (see module doc)."""
    from scipy.stats import chi2

    if n_bins < 2 or n_reference < 1 or n_live < 1:
        return 0.0
    return float(chi2.ppf(quantile, n_bins - 1) * (1.0 / n_reference + 1.0 / n_live))


def bin_counts(values, edges) -> np.ndarray:
    """Counts of ``values`` in the bins between ``edges``; the outer bins are open-ended.

    Inside [edges[0], edges[-1]] this matches ``np.histogram`` (bins closed on the left,
    the last one closed on both sides); values below or above fall in the first or last
    bin. NaN is not counted."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    edges = np.asarray(edges, dtype=np.float64)
    n_bins = max(len(edges) - 1, 1)
    index = np.searchsorted(edges[1:-1], values, side="right")
    return np.bincount(index, minlength=n_bins)[:n_bins]


def ks(reference, live) -> StatResult:
    """Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``), NaN dropped."""
    from scipy.stats import ks_2samp

    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(live, dtype=np.float64)
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if not len(ref) or not len(cur):
        raise ValueError("the KS test needs at least one non-missing value on each side")
    result = ks_2samp(ref, cur)
    return StatResult(float(result.statistic), float(result.pvalue))


def chi_square(reference_counts, live_counts) -> StatResult:
    """Chi-square test that two samples share one categorical distribution.

    Counts per category, same order on both sides; categories empty on both sides are
    ignored. Uses ``scipy.stats.chi2_contingency`` on the 2 x k table without Yates'
    correction."""
    from scipy.stats import chi2_contingency

    ref = np.asarray(reference_counts, dtype=np.float64).reshape(-1)
    cur = np.asarray(live_counts, dtype=np.float64).reshape(-1)
    if ref.shape != cur.shape:
        raise ValueError(f"reference has {len(ref)} categories, live {len(cur)}")
    if np.any(ref < 0) or np.any(cur < 0) or ref.sum() <= 0 or cur.sum() <= 0:
        raise ValueError("counts must be non-negative with at least one row on each side")
    keep = (ref + cur) > 0
    table = np.vstack([ref[keep], cur[keep]])
    if table.shape[1] < 2:
        return StatResult(0.0, 1.0, 0)
    statistic, p_value, dof, _ = chi2_contingency(table, correction=False)
    return StatResult(float(statistic), float(p_value), int(dof))


def reference_from_quantiles(quantiles, n: int) -> np.ndarray:
    """A pseudo-sample of ``n`` values with the given (evenly spaced) quantiles, for a KS
    test when the training rows themselves are not available."""
    q = np.asarray(quantiles, dtype=np.float64)
    return np.interp(np.linspace(0.0, 1.0, max(int(n), 2)), np.linspace(0.0, 1.0, len(q)), q)
