import pytest

from edgekit.benchmarks.profiles import NETWORKS, device_profiles, get_device, get_networks
from edgekit.runtime import ConfigError


def test_network_model_adds_rtt_and_transfer_time():
    # 1000 B up + 1000 B down at 2 Mbit/s = 8 ms, plus 150 ms RTT.
    assert NETWORKS["3g"].added_ms(1000, 1000) == pytest.approx(158.0)
    assert NETWORKS["loopback"].added_ms(10**6, 10**6) == 0.0


def test_device_profiles_restrict_threads_and_cores_honestly():
    profiles = device_profiles()
    assert profiles["pi-zero"].threads == 1 and len(profiles["pi-zero"].cpus) == 1
    assert profiles["phone"].threads == 2
    assert "not a slower CPU" in profiles["phone"].description


def test_unknown_profiles_are_usage_errors():
    with pytest.raises(ConfigError, match="desktop"):
        get_device("laptop")
    with pytest.raises(ConfigError):
        get_networks(("5g",))
