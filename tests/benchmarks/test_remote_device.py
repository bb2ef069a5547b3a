"""``edgekit bench --device ssh://...`` against a real OpenSSH server on loopback.

The server is Debian's ``/usr/sbin/sshd`` started for this module with a throwaway host key,
a throwaway client key and its own sshd_config in tmp (127.0.0.1, a free high port); the
client checks the host key against a known_hosts file made from that key. The "device"
Python is a venv that sees only numpy, ai-edge-litert, onnxruntime and their declared
dependencies (no edgekit), so the measurement must come from the code the command copies.
References: a local run of the same command (same metric fields, same task metric, same
outputs), the sshd session's own SSH_CONNECTION, the file's sha256 and the file system
(the device is this machine, so its temporary folder can be checked directly).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SSHD = "/usr/sbin/sshd"
FAST = 15.0  # seconds: an unreachable device, a refused key or a silent port must end within this
TMP = Path("/tmp")  # where mktemp -d lands in the sshd session (no TMPDIR there)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


class Sshd:
    def __init__(self, folder: Path):
        assert Path(SSHD).is_file(), "OpenSSH server missing: apt-get install openssh-server (.ci/run does)"
        self.folder = folder
        self.user = getpass.getuser()
        self.port = free_port()
        host_key = keygen(folder / "host_key")
        self.key = keygen(folder / "client_key")
        self.other_key = keygen(folder / "unknown_key")
        (folder / "authorized_keys").write_text(Path(f"{self.key}.pub").read_text())
        self.known_hosts = folder / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {Path(f'{host_key}.pub').read_text()}")
        config = folder / "sshd_config"
        config.write_text("\n".join([
            "ListenAddress 127.0.0.1", f"Port {self.port}", f"HostKey {host_key}", f"PidFile {folder / 'sshd.pid'}",
            f"AuthorizedKeysFile {folder / 'authorized_keys'}", "StrictModes no", "UsePAM no",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
            f"AllowUsers {self.user}", "",
        ]))
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir; packages' init scripts make it
        self.log = open(folder / "sshd.log", "w")
        self.process = subprocess.Popen([SSHD, "-D", "-f", str(config), "-e"], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while "Server listening" not in (folder / "sshd.log").read_text():
            assert self.process.poll() is None, (folder / "sshd.log").read_text()
            assert time.time() < deadline, "sshd did not start"
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"

    def args(self, key: Path | None = None) -> list[str]:
        return ["--device", self.url, "--identity", str(key or self.key), "--known-hosts", str(self.known_hosts)]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


def distributions(*names: str) -> list[metadata.Distribution]:
    """``names`` and everything they require (markers evaluated for this Python)."""
    from packaging.requirements import Requirement

    seen, todo, found = set(), list(names), []
    while todo:
        dist = metadata.distribution(todo.pop())
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        found.append(dist)
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def venv_with(folder: Path, *packages: str, pth: str | None = None) -> Path:
    """A venv whose site-packages links only ``packages`` (and their requirements) from ours."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    site = next(folder.glob("lib/python*/site-packages"))
    for dist in distributions(*packages) if packages else ():
        for top in {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}:
            source = Path(dist.locate_file(top))
            if source.exists() and not (site / top).exists():
                (site / top).symlink_to(source)
    if pth:
        (site / "zz_test.pth").write_text(pth + "\n")
    return folder / "bin" / "python"


@pytest.fixture(scope="module")
def device_python(tmp_path_factory):
    """numpy + both backends, no edgekit: what a fresh Raspberry Pi venv would hold."""
    python = venv_with(tmp_path_factory.mktemp("venvs") / "device", "numpy", "ai-edge-litert", "onnxruntime")
    done = subprocess.run([str(python), "-c", "import numpy, ai_edge_litert, onnxruntime; import edgekit"],
                          capture_output=True, text=True, cwd=python.parent)
    assert "No module named 'edgekit'" in done.stderr, done.stderr  # the backends import, edgekit does not
    return python


def bench(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit", "bench", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def remote_folders() -> set[Path]:
    return set(TMP.glob("edgekit-bench.*"))


def one_line_error(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgekit: error: "), done.stderr
    return lines[0]


def assert_same_fields(local: dict, device: dict) -> None:
    assert set(device) == set(local)
    for key, value in local.items():
        if isinstance(value, dict) and key not in ("metric", "parity"):
            assert set(device[key]) == set(value), key


def assert_really_over_ssh(section: dict, server: Sshd, python: Path) -> None:
    identity = section["identity"]
    assert identity["ssh_connection"].split()[2:] == ["127.0.0.1", str(server.port)]  # set by the sshd session
    assert identity["python_executable"] == str(python)
    assert identity["architecture"] == platform.machine() and identity["cores"] == os.cpu_count()
    assert identity["packages"]["onnxruntime"] == metadata.version("onnxruntime")
    assert identity["packages"]["ai-edge-litert"] == metadata.version("ai-edge-litert")
    assert identity["packages"]["edgekit"] is None and identity["memory_mb"]["total"] > 0 and identity["os"]
    assert section["code"]["ran_from"] == f"{section['temp_folder']}/lib/edgekit"  # the copy, not an install
    assert section["temp_folder_removed"] is True and not Path(section["temp_folder"]).exists()


@pytest.fixture(scope="module")
def two_exports(mpg_nn, tmp_path_factory) -> Path:
    """One TFLite and one ONNX export of the Auto MPG network, in their own exports folder."""
    folder = tmp_path_factory.mktemp("exports")
    for name in ("tflite-fp32", "onnx-fp32"):
        shutil.copytree(mpg_nn.exports / name, folder / name)
    return folder


def test_bundle_exports_measured_on_the_device_have_a_local_runs_fields_and_metrics(sshd, device_python, mpg_nn,
                                                                                  two_exports, tmp_path):
    out = tmp_path / "bench"
    done = bench(mpg_nn.bundle, "--exports", two_exports, *sshd.args(), "--remote-python", device_python, "--quick",
                 "--runs", 40, "--network", "loopback,wifi", "--out", out)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "bench.json").read_text())
    device = report["device"]
    assert_really_over_ssh(device, sshd, device_python)
    assert device["profile"]["name"] == "desktop" and device["profile"]["threads"] == os.cpu_count()
    local = {r["name"]: r for r in report["edge"]}
    assert [r["name"] for r in device["edge"]] == list(local) == ["onnx-fp32", "tflite-fp32"]
    for row in device["edge"]:
        assert row["status"] == "ok", row.get("error")
        assert_same_fields(local[row["name"]], row)
        assert row["metric"] == pytest.approx(local[row["name"]]["metric"], rel=1e-6)  # same model, data and backend
        assert row["backend"] == local[row["name"]]["backend"] and row["heavy_modules"] == []
        assert row["latency_ms"]["count"] == 40 and row["cold_start_ms"] > row["import_ms"] > 0
    assert {e["name"] for e in device["vs_local"]} == set(local)
    assert report["comparison"]["measured_on"] == f"device {sshd.url}"  # the recommendation is for the device
    table = (out / "bench.md").read_text()
    for name in local:
        assert f"| {name} | device |" in table and f"| {name} | this machine |" in table
    assert "| cloud (source model) | cloud (loopback) |" in table
    assert "Remote device" in done.stdout and "this same machine" in done.stdout


def test_a_model_file_on_the_device_gives_the_local_outputs_and_fields(sshd, device_python, foreign, tmp_path):
    path = foreign.cnn_fp32
    out = tmp_path / "bench"
    done = bench(path, *sshd.args(), "--remote-python", device_python, "--profile", "pi-zero", "--quick", "--runs", 40,
                 "--out", out)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "bench.json").read_text())
    device, (here,) = report["device"], report["edge"]
    assert_really_over_ssh(device, sshd, device_python)
    (row,) = device["edge"]
    assert row["status"] == "ok", row.get("error")
    assert_same_fields(here, row)
    assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and row["size_bytes"] == path.stat().st_size
    assert row["threads"] == 1 and len(row["cpus"]) == 1 and row["heavy_modules"] == []
    assert row["feeds_sha256"] == here["feeds_sha256"]  # same seed, same synthetic feeds
    (entry,) = device["vs_local"]
    assert entry["agreement"]["max_abs_diff"] == 0.0 and entry["agreement"]["argmax_agreement"] == 1.0
    assert f"| {path.name} | device |" in (out / "bench.md").read_text()


def test_no_local_measures_only_on_the_device(sshd, device_python, foreign, tmp_path):
    out = tmp_path / "bench"
    done = bench(foreign.stateful_onnx, *sshd.args(), "--remote-python", device_python, "--no-local", "--quick", "--runs",
                 20, "--out", out)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "bench.json").read_text())
    assert report["edge"] == [] and report["device"]["edge"][0]["status"] == "ok"
    assert report["device"]["comparison"]["fastest"] == foreign.stateful_onnx.name
    assert "this machine was not measured" in (out / "bench.md").read_text().lower()


def test_a_wrong_port_fails_fast_with_one_line(sshd, foreign):
    started = time.monotonic()
    done = bench(foreign.cnn_fp32, "--device", f"ssh://{sshd.user}@127.0.0.1:{free_port()}", "--identity", sshd.key,
                 "--known-hosts", sshd.known_hosts, timeout=60)
    assert time.monotonic() - started < FAST and done.returncode == 1
    assert "Connection refused" in one_line_error(done)


def test_a_key_the_device_does_not_know_fails_fast_with_one_line(sshd, foreign):
    started = time.monotonic()
    done = bench(foreign.cnn_fp32, *sshd.args(key=sshd.other_key), timeout=60)
    assert time.monotonic() - started < FAST and done.returncode == 1
    line = one_line_error(done)
    assert f"refused the key {sshd.other_key}" in line and "Permission denied (publickey)" in line


def test_a_silent_port_times_out_within_15_seconds(foreign):
    with socket.socket() as server:  # accepts TCP, never says a word of SSH
        server.bind(("127.0.0.1", 0))
        server.listen()
        held = []
        threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
        started = time.monotonic()
        done = bench(foreign.cnn_fp32, "--device", f"ssh://nobody@127.0.0.1:{server.getsockname()[1]}", timeout=60)
        elapsed = time.monotonic() - started
    assert elapsed < FAST and done.returncode == 1
    assert "timed out" in one_line_error(done)


def test_an_unknown_host_key_is_refused_unless_insecure_and_a_device_without_backend_gets_the_pip_line(
        sshd, foreign, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    strict = bench(foreign.cnn_fp32, "--device", sshd.url, "--identity", sshd.key, "--known-hosts", empty, timeout=60)
    assert strict.returncode == 1 and "Host key verification failed" in one_line_error(strict)

    numpy_only = venv_with(tmp_path / "numpy-only", "numpy")
    before = remote_folders()
    done = bench(foreign.cnn_fp32, foreign.stateful_onnx, "--device", sshd.url, "--identity", sshd.key,
                 "--insecure-host-key", "--remote-python", numpy_only, timeout=60)
    assert done.returncode == 1
    warning, error = [line for line in done.stderr.splitlines() if line.strip()]
    assert "WARNING: --insecure-host-key" in warning and "NOT checked" in warning
    assert error.startswith("edgekit: error: ")
    assert f"run `{numpy_only} -m pip install ai-edge-litert onnxruntime` there" in error
    assert remote_folders() == before  # the folder made for the probe is gone too


def test_a_python_the_device_lacks_is_named_and_the_folder_still_removed(sshd, foreign):
    before = remote_folders()
    done = bench(foreign.cnn_fp32, *sshd.args(), "--remote-python", "/opt/no-such/python3", timeout=60)
    assert done.returncode == 1 and "/opt/no-such/python3 not found on the device (exit 127)" in one_line_error(done)
    assert remote_folders() == before


CRASH = ("import os, sys; ('edgekit.benchmarks.tensor_worker' in sys.orig_argv) and "
         "(sys.stderr.write('simulated device fault\\n'), sys.stderr.flush(), os.abort())")


def test_a_worker_that_crashes_on_the_device_reports_its_signal_and_stderr(sshd, foreign, tmp_path):
    crashing = venv_with(tmp_path / "crashing", "numpy", "ai-edge-litert", "onnxruntime", pth=CRASH)
    before = remote_folders()
    out = tmp_path / "bench"
    done = bench(foreign.cnn_fp32, *sshd.args(), "--remote-python", crashing, "--quick", "--runs", 20, "--out", out)
    assert done.returncode == 1
    (row,) = json.loads((out / "bench.json").read_text())["device"]["edge"]
    assert row["status"] == "failed" and row["exit_status"] == -signal.SIGABRT
    assert "was killed by SIGABRT" in row["error"] and "simulated device fault" in row["error"]
    assert f"failed on the device: {foreign.cnn_fp32.name}: the worker on the device was killed by SIGABRT" in done.stderr
    assert remote_folders() == before


@pytest.mark.parametrize("how", ["SIGINT to the process group (Ctrl-C)", "SIGTERM to edgekit"])
def test_an_interrupted_run_removes_the_folder_and_stops_the_worker_on_the_device(sshd, device_python, foreign, how):
    before = remote_folders()
    process = subprocess.Popen([sys.executable, "-m", "edgekit", "bench", str(foreign.cnn_fp32), *sshd.args(),
                                "--remote-python", str(device_python), "--runs", "50000000"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        folder, worker = wait_for_worker(before)
        if how.startswith("SIGINT"):
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr  # click reports "edgekit: aborted"
    assert not folder.exists()
    deadline = time.time() + 10
    while Path(f"/proc/{worker}").exists() and time.time() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{worker}").exists()


def wait_for_worker(before: set[Path], timeout: float = 90) -> tuple[Path, int]:
    """The new temporary folder on the "device" and the pid of the worker measuring in it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for folder in remote_folders() - before:
            for proc in Path("/proc").glob("[0-9]*"):
                try:
                    cmdline = (proc / "cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if b"edgekit.benchmarks.tensor_worker" in cmdline and any(str(folder).encode() in a for a in cmdline):
                    return folder, int(proc.name)
        time.sleep(0.1)
    raise AssertionError("no worker started on the device")


@pytest.mark.parametrize("url", ["http://host", "ssh://", "ssh://host:99999", "ssh://user:secret@host",
                                 "ssh://-oProxyCommand=touch%20x@host", "ssh://host/path"])
def test_a_malformed_device_url_is_a_usage_error(foreign, url):
    done = bench(foreign.cnn_fp32, "--device", url, timeout=60)
    assert done.returncode == 2 and "--device" in one_line_error(done)


def test_device_options_need_a_device(foreign, tmp_path):
    done = bench(foreign.cnn_fp32, "--no-local", timeout=60)
    assert done.returncode == 2 and re.search(r"--no-local is for a remote device", one_line_error(done))
