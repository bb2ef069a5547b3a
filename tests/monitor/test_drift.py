"""Per-feature drift checks on synthetic data summarised exactly as training does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edgekit.monitor.drift import (
    MISSING_BIN,
    UNSEEN_BIN,
    Thresholds,
    categorical_drift,
    category_labels,
    numeric_drift,
    psi_epsilon,
    worst,
)
from edgekit.monitor.stats import bin_counts, psi
from edgekit.runtime.errors import ConfigError
from edgekit.train.card import categorical_summary, numeric_summary

TRAIN = np.random.default_rng(0).lognormal(3.0, 0.5, 2000)
SUMMARY = numeric_summary(TRAIN)


def live(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(3.0 + shift, 0.5, n)


def test_a_sample_from_the_training_distribution_is_ok():
    drift = numeric_drift("x", live(1000, 1), SUMMARY, TRAIN, Thresholds())
    assert drift.status == "ok"
    assert [c.name for c in drift.checks] == ["psi", "ks"]
    assert drift.check("psi").value < 0.1 and drift.check("ks").p_value > 0.01


def test_a_shifted_sample_alerts_on_psi_and_ks():
    drift = numeric_drift("x", live(1000, 1, shift=0.4), SUMMARY, TRAIN, Thresholds())
    assert drift.check("psi").status == "alert" and drift.check("ks").status == "alert"
    assert drift.live_mean > drift.reference_mean


def test_psi_uses_the_cards_bins_with_open_outer_bins():
    values = live(500, 2, shift=0.2)
    drift = numeric_drift("x", values, SUMMARY, TRAIN, Thresholds())
    counts = bin_counts(values, SUMMARY["bin_edges"])
    assert drift.actual == pytest.approx((counts / 500).tolist())
    assert drift.check("psi").value == pytest.approx(psi(SUMMARY["bin_fractions"], counts, epsilon=psi_epsilon(500)))
    assert drift.bins[0].startswith("<") and drift.bins[-1].startswith(">=")


def test_a_jump_in_missing_values_alerts_through_the_missing_bin():
    values = live(1000, 3)
    values[:300] = np.nan
    drift = numeric_drift("x", values, SUMMARY, TRAIN, Thresholds())
    assert drift.bins[-1] == MISSING_BIN and drift.actual[-1] == pytest.approx(0.3)
    assert drift.check("psi").status == "alert"
    assert drift.check("ks").status == "ok"  # the values that are there did not move
    assert drift.missing_fraction == pytest.approx(0.3)


def test_a_feature_constant_in_training_alerts_when_it_moves():
    summary = numeric_summary(np.full(500, 4.0))
    assert numeric_drift("c", np.full(200, 4.0), summary, np.full(500, 4.0), Thresholds()).status == "ok"
    moved = numeric_drift("c", np.r_[np.full(100, 4.0), np.full(100, 6.0)], summary, np.full(500, 4.0), Thresholds())
    assert moved.status == "alert" and moved.bins == ["< 4", "= 4", "> 4"]


def test_without_training_rows_ks_uses_the_cards_percentiles():
    ok = numeric_drift("x", live(1000, 4), SUMMARY, None, Thresholds())
    shifted = numeric_drift("x", live(1000, 4, shift=0.3), SUMMARY, None, Thresholds())
    assert ok.check("ks").status == "ok" and "pseudo-sample" in ok.check("ks").note
    assert shifted.check("ks").status == "alert"


def test_small_windows_do_not_warn_on_psi_noise_but_fixed_thresholds_would():
    small = live(40, 5)
    graded = numeric_drift("x", small, SUMMARY, TRAIN, Thresholds())
    fixed = numeric_drift("x", small, SUMMARY, TRAIN, Thresholds(psi_noise=None))
    assert graded.check("psi").value == fixed.check("psi").value > 0.1
    assert fixed.check("psi").status != "ok"
    assert graded.check("psi").status == "ok" and "sampling noise" in graded.check("psi").note


def test_categorical_frequencies_compared_with_psi_and_chi_square():
    train = pd.Series(np.random.default_rng(6).choice(["usa", "europe", "japan"], 1000, p=[0.6, 0.25, 0.15]))
    summary = categorical_summary(train)
    same = np.random.default_rng(7).choice(["usa", "europe", "japan"], 500, p=[0.6, 0.25, 0.15]).astype(object)
    moved = np.random.default_rng(7).choice(["usa", "europe", "japan"], 500, p=[0.3, 0.3, 0.4]).astype(object)
    assert categorical_drift("origin", same, summary, Thresholds()).status == "ok"
    drift = categorical_drift("origin", moved, summary, Thresholds())
    assert drift.check("psi").status == "alert" and drift.check("chi2").status == "alert"
    assert drift.bins == ["europe", "japan", "usa"]


def test_unseen_categories_and_missing_values_get_their_own_bins():
    summary = categorical_summary(pd.Series(["a"] * 50 + ["b"] * 50))
    values = np.array(["a"] * 40 + ["b"] * 40 + ["zzz"] * 15 + [""] * 5, dtype=object)
    drift = categorical_drift("cat", values, summary, Thresholds())
    assert drift.bins == ["a", "b", UNSEEN_BIN, MISSING_BIN]
    assert drift.expected == [0.5, 0.5, 0.0, 0.0]
    assert drift.actual == pytest.approx([0.4, 0.4, 0.15, 0.05])
    assert drift.status == "alert" and "never seen" in drift.check("chi2").note


def test_numeric_category_codes_match_the_cards_keys():
    assert category_labels(np.array([1.0, 2.0, np.nan, 2.5]), is_string=False).tolist() == ["1", "2", "", "2.5"]
    assert category_labels(np.array(["x", ""], dtype=object), is_string=True).tolist() == ["x", ""]


def test_status_order_and_threshold_validation():
    assert worst(["ok", "warn", "ok"]) == "warn" and worst(["warn", "alert"]) == "alert" and worst([]) == "ok"
    with pytest.raises(ConfigError, match="psi_alert"):
        Thresholds(psi_warn=0.3, psi_alert=0.2)
    with pytest.raises(ConfigError, match="p-value"):
        Thresholds(ks_alpha=0.001, ks_alpha_alert=0.01)
    with pytest.raises(ConfigError, match="psi_noise"):
        Thresholds(psi_noise=(0.999, 0.99))
    with pytest.raises(ConfigError, match="non-negative"):
        Thresholds(metric_warn=float("nan"))
