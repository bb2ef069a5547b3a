"""Device and network profiles, implemented honestly and described as what they are.

Device profiles restrict the *same* CPU (thread count and CPU affinity); they do not make
it slower, and reports say so. Network profiles add round-trip time and bandwidth to the
measured loopback figures: real emulation would need tc netem, which is used only where
the kernel offers it; otherwise the figures are labelled "modelled".
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import asdict, dataclass

from edgekit.runtime.errors import ConfigError


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    threads: int | None
    cpus: tuple[int, ...] | None
    description: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NetworkProfile:
    name: str
    rtt_ms: float
    bandwidth_mbps: float | None
    description: str

    def added_ms(self, request_bytes: int, response_bytes: int) -> float:
        """Modelled extra time per request: one round trip plus serialisation at the bandwidth."""
        if self.bandwidth_mbps is None:
            return 0.0
        return self.rtt_ms + (request_bytes + response_bytes) * 8 / (self.bandwidth_mbps * 1000.0)

    def to_dict(self) -> dict:
        return asdict(self)


def _available_cpus() -> tuple[int, ...]:
    return tuple(sorted(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else tuple(range(os.cpu_count() or 1))


def device_profiles(cpus: tuple[int, ...] | None = None, where: str = "this machine") -> dict[str, DeviceProfile]:
    """The profiles on ``cpus`` (default: this process's; a remote device passes its own)."""
    cpus = tuple(cpus) if cpus else _available_cpus()
    return {
        "desktop": DeviceProfile("desktop", len(cpus), None, f"all {len(cpus)} cores of {where}, {len(cpus)} backend threads"),
        "phone": DeviceProfile("phone", 2, cpus[:2], f"2 backend threads on at most 2 cores of {where} (not a slower CPU)"),
        "pi-zero": DeviceProfile("pi-zero", 1, cpus[:1], f"1 backend thread pinned to one core of {where} (not a slower CPU)"),
        "mcu-like": DeviceProfile("mcu-like", 1, cpus[:1], f"1 backend thread pinned to one core of {where} (not an MCU)"),
    }


NETWORKS = {
    "loopback": NetworkProfile("loopback", 0.0, None, "measured on 127.0.0.1"),
    "wifi": NetworkProfile("wifi", 20.0, 50.0, "20 ms RTT, 50 Mbit/s"),
    "4g": NetworkProfile("4g", 50.0, 20.0, "50 ms RTT, 20 Mbit/s"),
    "3g": NetworkProfile("3g", 150.0, 2.0, "150 ms RTT, 2 Mbit/s"),
}


def get_device(name: str, cpus: tuple[int, ...] | None = None, where: str = "this machine") -> DeviceProfile:
    profiles = device_profiles(cpus, where)
    if name not in profiles:
        raise ConfigError(f"unknown --profile {name!r}", hint=f"choose one of {', '.join(profiles)}")
    return profiles[name]


def get_networks(names: tuple[str, ...]) -> list[NetworkProfile]:
    unknown = [n for n in names if n not in NETWORKS]
    if unknown:
        raise ConfigError(f"unknown --network {unknown}", hint=f"choose from {', '.join(NETWORKS)}")
    return [NETWORKS[n] for n in names]


def netem_available() -> bool:
    """Whether tc netem works here (root, iproute2 and the sch_netem kernel module)."""
    if os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("tc")):
        return False
    ns = f"edgekit-probe-{os.getpid()}"
    try:
        if subprocess.run(["ip", "netns", "add", ns], capture_output=True, timeout=5).returncode:
            return False
        probe = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
                               capture_output=True, timeout=5)
        return probe.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=5)
