"""Who is this machine? Architecture, CPU, cores, memory, OS, Python and backend versions.

Standard library only and self-contained: it is piped to the device's Python as a script
(``python3 -``) before anything is copied there, and imported locally for the same facts
about this machine. It never imports numpy or a backend (that would cost seconds on a small
board): packages are found with ``importlib.util.find_spec`` and versioned from their
installed metadata. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

# distribution name -> import name, for what the edgekit runtime can use on a device
PACKAGES = {"numpy": "numpy", "ai-edge-litert": "ai_edge_litert", "tflite-runtime": "tflite_runtime",
            "tensorflow": "tensorflow", "onnxruntime": "onnxruntime", "edgekit": "edgekit"}


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def _field(text: str, *names: str) -> str | None:
    for name in names:
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == name and value.strip():
                return value.strip()
    return None


def _command(*argv: str) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=3)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def cpu_model() -> str | None:
    """The CPU's name: /proc/cpuinfo on Linux (ARM boards often only name the board there), sysctl on macOS."""
    info = _read("/proc/cpuinfo")
    return (_field(info, "model name", "Processor", "cpu model", "Hardware", "Model")
            or (_command("sysctl", "-n", "machdep.cpu.brand_string") if sys.platform == "darwin" else None)
            or platform.processor() or None)


def board() -> str | None:
    """A Raspberry Pi's or Jetson's device-tree model, or an Android phone's product name (Termux)."""
    model = _read("/proc/device-tree/model").strip("\x00\n ")
    if model:
        return model
    if os.environ.get("ANDROID_ROOT") or os.path.exists("/system/build.prop"):
        parts = [_command("getprop", "ro.product.manufacturer"), _command("getprop", "ro.product.model")]
        return " ".join(p for p in parts if p) or None
    return None


def memory_mb() -> dict[str, float | None]:
    info = _read("/proc/meminfo")
    total, available = _field(info, "MemTotal"), _field(info, "MemAvailable")
    if total:
        return {"total": int(total.split()[0]) / 1024, "available": int(available.split()[0]) / 1024 if available else None}
    try:
        return {"total": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20, "available": None}
    except (ValueError, OSError, AttributeError):
        return {"total": None, "available": None}


def os_name() -> str:
    pretty = None
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            pretty = line.split("=", 1)[1].strip().strip('"')
    if not pretty and sys.platform == "darwin":
        pretty = f"macOS {platform.mac_ver()[0]}"
    if not pretty and os.environ.get("ANDROID_ROOT"):
        pretty = f"Android {_command('getprop', 'ro.build.version.release') or ''}".strip()
    return pretty or platform.system()


def package_versions() -> dict[str, str | None]:
    """Installed version of each package the runtime may use, None where it cannot be imported."""
    import importlib.util
    from importlib import metadata

    found = {}
    for dist, module in PACKAGES.items():
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            found[dist] = None
            continue
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "unknown version"
    return found


def identity() -> dict:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    return {
        "hostname": platform.node(),
        "architecture": platform.machine(),
        "cpu_model": cpu_model(),
        "board": board(),
        "cores": os.cpu_count(),
        "cpus": cpus,
        "memory_mb": memory_mb(),
        "os": os_name(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "packages": package_versions(),
        "ssh_connection": os.environ.get("SSH_CONNECTION"),
    }


if __name__ == "__main__":
    sys.stdout.write(json.dumps(identity()) + "\n")
