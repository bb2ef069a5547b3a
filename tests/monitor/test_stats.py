"""PSI, KS and chi-square against hand-checked values and independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from edgekit.monitor.stats import EPSILON, bin_counts, chi_square, ks, psi, psi_noise, reference_from_quantiles


def test_psi_matches_a_hand_checked_example():
    # sum (a - e) ln(a / e) with e = 0.25 each and a = 0.1, 0.2, 0.3, 0.4:
    #   -0.15 ln 0.4 = 0.137444, -0.05 ln 0.8 = 0.011157, 0.05 ln 1.2 = 0.009116, 0.15 ln 1.6 = 0.070501
    assert psi([0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.228218, abs=1e-6)
    # counts are normalised first: the same distributions as counts
    assert psi([25, 25, 25, 25], [10, 20, 30, 40]) == pytest.approx(0.228218, abs=1e-6)


def test_an_empty_bin_counts_as_epsilon():
    # (1 - 0.5) ln(1 / 0.5) + (1e-4 - 0.5) ln(1e-4 / 0.5) = 0.346574 + 4.257745
    assert EPSILON == 1e-4
    assert psi([0.5, 0.5], [1.0, 0.0]) == pytest.approx(4.604319, abs=1e-6)
    assert psi([0.5, 0.5], [1.0, 0.0], epsilon=0.01) == pytest.approx(0.5 * math.log(2) + 0.49 * math.log(50), abs=1e-9)


def test_psi_is_the_symmetric_kullback_leibler_divergence_from_scipy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        e, a = rng.dirichlet(np.ones(10)), rng.dirichlet(np.ones(10))
        assert psi(e, a) == pytest.approx(sp.entropy(a, e) + sp.entropy(e, a), rel=1e-10)
    assert psi(e, e) == 0.0


def test_psi_refuses_mismatched_or_empty_distributions():
    with pytest.raises(ValueError, match="bins"):
        psi([0.5, 0.5], [1.0])
    with pytest.raises(ValueError, match="sums to zero"):
        psi([0, 0], [1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        psi([1, -1], [1, 1])


def test_psi_noise_matches_simulated_psi_without_drift():
    rng = np.random.default_rng(1)
    expected = np.full(10, 0.1)
    n_ref, n_live = 300, 200
    ref = rng.multinomial(n_ref, expected, size=4000) / n_ref
    live = rng.multinomial(n_live, expected, size=4000) / n_live
    simulated = np.sum((live - ref) * np.log(np.maximum(live, 1e-4) / np.maximum(ref, 1e-4)), axis=1)
    for q in (0.9, 0.99):
        assert psi_noise(10, n_ref, n_live, q) == pytest.approx(np.quantile(simulated, q), rel=0.15)


def test_bin_counts_match_numpy_histogram_and_put_outliers_in_the_outer_bins():
    rng = np.random.default_rng(2)
    edges = np.array([0.0, 1.0, 2.5, 4.0, 10.0])
    inside = np.r_[rng.uniform(0, 10, 500), edges]  # edge values too: numpy's bins are [a, b), the last [a, b]
    np.testing.assert_array_equal(bin_counts(inside, edges), np.histogram(inside, edges)[0])
    assert bin_counts([-5.0, 0.5, 11.0, 99.0, np.nan], edges).tolist() == [2, 0, 0, 2]


def test_ks_statistic_is_the_largest_ecdf_gap_and_its_p_value_the_kolmogorov_tail():
    rng = np.random.default_rng(3)
    ref, live = rng.normal(0, 1, 800), rng.normal(0.15, 1, 600)
    result = ks(np.r_[ref, np.nan], live)
    grid = np.sort(np.r_[ref, live])
    gap = np.abs(np.searchsorted(np.sort(ref), grid, "right") / len(ref) - np.searchsorted(np.sort(live), grid, "right") / len(live))
    assert result.statistic == pytest.approx(gap.max(), abs=1e-12)
    effective = len(ref) * len(live) / (len(ref) + len(live))
    assert result.p_value == pytest.approx(sp.kstwobign.sf(gap.max() * math.sqrt(effective)), rel=0.1)
    with pytest.raises(ValueError, match="non-missing"):
        ks([np.nan], live)


def test_chi_square_matches_the_textbook_formula():
    ref, live = np.array([50, 30, 20, 0]), np.array([20, 30, 45, 5])
    table = np.vstack([ref, live]).astype(float)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = ((table - expected) ** 2 / expected).sum()
    result = chi_square(ref, live)
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.dof == 3
    assert result.p_value == pytest.approx(sp.chi2.sf(statistic, 3), rel=1e-9)


def test_chi_square_ignores_categories_empty_on_both_sides_and_accepts_one_category():
    assert chi_square([10, 0, 5], [4, 0, 2]).dof == 1
    one = chi_square([10, 0], [3, 0])
    assert (one.statistic, one.p_value) == (0.0, 1.0)


def test_a_quantile_pseudo_sample_has_the_given_percentiles():
    rng = np.random.default_rng(4)
    values = rng.gamma(2.0, 3.0, 5000)
    quantiles = np.quantile(values, np.linspace(0, 1, 101))
    sample = reference_from_quantiles(quantiles, 5000)
    np.testing.assert_allclose(np.quantile(sample, [0.1, 0.5, 0.9]), np.quantile(values, [0.1, 0.5, 0.9]), rtol=0.02)
    assert ks(values, rng.gamma(2.0, 3.0, 1000)).p_value > 0.01
    assert ks(sample, rng.gamma(2.0, 3.0, 1000)).p_value > 0.01
