import numpy as np
import pytest

from edgekit.benchmarks.stats import LatencyStats, downsample


def test_percentiles_match_a_hand_computed_example():
    stats = LatencyStats.of([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    # linear interpolation between closest ranks: p50 = 5.5, p90 = 9.1, p99 = 9.91
    assert (stats.p50, stats.p90, stats.p99) == pytest.approx((5.5, 9.1, 9.91))
    assert (stats.min, stats.max, stats.mean, stats.count) == (1, 10, 5.5, 10)
    assert stats.std == pytest.approx(np.std(np.arange(1, 11)))


def test_stats_round_trip_and_refuse_empty_input():
    stats = LatencyStats.of([3.0, 1.0, 2.0])
    assert LatencyStats.from_dict(stats.to_dict()) == stats
    with pytest.raises(ValueError):
        LatencyStats.of([])


def test_downsample_keeps_the_distribution_ends():
    samples = np.random.default_rng(0).exponential(size=10_000)
    small = downsample(samples, 100)
    assert len(small) == 100 and small == sorted(small)
    assert small[0] == pytest.approx(samples.min(), abs=1e-6) and small[-1] == pytest.approx(samples.max(), abs=1e-6)
    assert downsample([3, 1, 2]) == [1, 2, 3]
