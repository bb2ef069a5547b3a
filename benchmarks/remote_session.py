"""One measurement session on a device over SSH.

1. ``mktemp -d`` there and the identity probe (``remote_probe``, piped to the device's Python):
   the first contact, so an unreachable host or a refused key fails in one line within 15 s;
2. the upload: one zip streamed through ssh's stdin and unpacked by the device's own Python
   (no scp/SFTP server needed: dropbear boards and Termux work too), then ``compileall`` so
   the worker imports cached bytecode made by that Python, as an installed package does;
3. ``remote_agent`` runs the jobs and streams one JSON line per job back;
4. ``rm -rf`` of the folder, also when a step failed or the user interrupted (Ctrl-C or
   SIGTERM), then a check that it is gone.

The code copied is this installation's ``edgekit`` root, ``edgekit.runtime`` and the
benchmark workers: the very modules that measure locally, run by the device's Python with
nothing but numpy and a backend installed there. ``lib/`` comes first on the device's
PYTHONPATH, so an edgekit installed on the device cannot change what is measured.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any, Callable

from edgekit.benchmarks.remote_ssh import FIRST_CONTACT_TIMEOUT_S, DeviceError, SshTarget, ssh_failure

MIN_PYTHON = (3, 10)  # pyproject's requires-python
REMOTE_FOLDER = re.compile(r"^/[^\n]*/edgekit-bench\.[A-Za-z0-9]+$")
WORKER_MODULES = ("__init__.py", "edge_worker.py", "tensor_worker.py", "task_metrics.py", "remote_agent.py")
UPLOAD_BYTES_PER_S = 256 << 10  # upload timeout allowance: a slow Wi-Fi link, not loopback
TAIL_LINES = 6

OPEN_SCRIPT = """for base in "${{TMPDIR:-/tmp}}" "$HOME"; do
  d=$(mktemp -d "$base/edgekit-bench.XXXXXX" 2>/dev/null) && break
done
[ -n "$d" ] || {{ echo "mktemp -d failed in ${{TMPDIR:-/tmp}} and $HOME" >&2; exit 70; }}
echo "$d"
cd "$d" && exec {python} -"""
UNPACK = "import io, sys, zipfile; zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read())).extractall('.')"


def code_files() -> dict[str, bytes]:
    """The edgekit modules the device needs, by their path under lib/ there."""
    import edgekit
    import edgekit.benchmarks
    import edgekit.runtime

    files = {"edgekit/__init__.py": Path(edgekit.__file__).read_bytes()}
    runtime = Path(edgekit.runtime.__path__[0])
    for path in sorted(runtime.rglob("*.py")):
        if "__pycache__" not in path.parts:
            files[f"edgekit/runtime/{path.relative_to(runtime).as_posix()}"] = path.read_bytes()
    benchmarks = Path(edgekit.benchmarks.__path__[0])
    for name in WORKER_MODULES:
        files[f"edgekit/benchmarks/{name}"] = (benchmarks / name).read_bytes()
    return files


def digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def python_word(python: str) -> str:
    """The remote Python as a shell word; a leading ~/ still expands to the device's home."""
    if python.startswith("~/"):
        return '"$HOME"/' + shlex.quote(python[2:])
    return shlex.quote(python)


def tail(text: str, lines: int = TAIL_LINES) -> str:
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "no output"


class DeviceSession:
    """``with DeviceSession(target, python) as s: s.upload(files); s.run_jobs(...)``."""

    def __init__(self, target: SshTarget, python: str = "python3"):
        self.target = target
        self.python = python
        self.folder: str | None = None
        self.identity: dict[str, Any] | None = None
        self.removed: bool | None = None
        self.code: dict[str, Any] | None = None
        self.transfer: dict[str, Any] = {}
        self.jobs = 0
        self.timeout_s = 0.0
        self._previous_sigterm = None

    def path(self, relative: str) -> str:
        return f"{self.folder}/{relative}"

    def __enter__(self) -> "DeviceSession":
        self._sigterm_as_interrupt()
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        probe = (Path(__file__).with_name("remote_probe.py")).read_bytes()
        done = self.target.run(OPEN_SCRIPT.format(python=python_word(self.python)), timeout_s=FIRST_CONTACT_TIMEOUT_S,
                               what="connecting and probing the device", input=probe)
        lines = done.stdout.decode(errors="replace").splitlines()
        if lines and REMOTE_FOLDER.match(lines[0].strip()):
            self.folder = lines[0].strip()
        stderr = done.stderr.decode(errors="replace")
        if done.returncode == 127:
            raise DeviceError(f"{self.target.label}: {self.python} not found on the device (exit 127)",
                              hint="install Python 3 there, or point --remote-python at it")
        if done.returncode != 0 or self.folder is None or len(lines) < 2:
            raise DeviceError(f"{self.target.label}: probing the device failed (exit status {done.returncode}): {tail(stderr)}")
        self.identity = json.loads(lines[1])
        version = tuple(int(p) for p in self.identity["python"].split(".")[:2])
        if version < MIN_PYTHON:
            raise DeviceError(f"{self.target.label}: {self.python} is Python {self.identity['python']}; the edgekit "
                              f"worker needs {'.'.join(map(str, MIN_PYTHON))} or newer",
                              hint="point --remote-python at a newer Python on the device")

    def upload(self, files: dict[str, Path | bytes], jobs: list[dict[str, Any]], timeout_s: float) -> None:
        """Copy the worker code (under lib/), ``files`` (relative path -> local file or bytes) and
        the job list; each job may take ``timeout_s`` on the device."""
        self.jobs = len(jobs)
        self.timeout_s = timeout_s
        files = {**files, "jobs.json": json.dumps({"jobs": jobs, "timeout_s": timeout_s}).encode()}
        code = code_files()
        self.code = {"source": "copied from this machine", "sha256": digest(code), "files": len(code),
                     "path": self.path("lib")}
        with tempfile.TemporaryFile() as archive:
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
                for name, content in code.items():
                    z.writestr(f"lib/{name}", content)
                for name, content in files.items():
                    if isinstance(content, bytes):
                        z.writestr(name, content)
                    else:
                        z.write(content, name)
            size = archive.tell()
            archive.seek(0)
            py = python_word(self.python)
            script = f"cd {shlex.quote(self.folder)} && {py} -c {shlex.quote(UNPACK)} && {py} -m compileall -q lib >/dev/null"
            done = self.target.run(script, stdin=archive, timeout_s=60 + size / UPLOAD_BYTES_PER_S, what="copying files")
        if done.returncode != 0:
            raise DeviceError(f"{self.target.label}: copying files to {self.folder} failed (exit status {done.returncode}): "
                              f"{tail(done.stderr.decode(errors='replace'))}")
        self.transfer = {"bytes": size, "files": len(files) + len(code)}

    def run_jobs(self, on_result: Callable[[dict], None]) -> dict[str, Any]:
        """Run the agent on the uploaded jobs; ``on_result`` gets each job's result as it arrives.

        Returns the agent's own line (where the edgekit it ran from lives)."""
        script = (f"cd {shlex.quote(self.folder)} && exec env PYTHONPATH={shlex.quote(self.path('lib'))} "
                  f"{python_word(self.python)} -m edgekit.benchmarks.remote_agent jobs.json")
        with tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen(self.target.command(script), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=stderr)
            timer = threading.Timer(self.jobs * self.timeout_s + 60, process.kill)
            timer.start()
            agent, seen = None, 0
            try:
                for line in process.stdout:  # stdin stays open: the agent stops its worker when it closes
                    message = json.loads(line)
                    if "agent" in message:
                        agent = message["agent"]
                    else:
                        seen += 1
                        on_result(message)
                process.wait()
            finally:
                timer.cancel()
                if process.poll() is None:
                    process.kill()
                    process.wait()
                process.stdin.close()
            stderr.seek(0)
            text = stderr.read().decode(errors="replace")
        if process.returncode == 255:
            raise ssh_failure(self.target, text)
        if seen < self.jobs:
            raise DeviceError(f"{self.target.label}: the agent on the device stopped after {seen} of {self.jobs} jobs "
                              f"(exit status {process.returncode}): {tail(text)}")
        return agent or {}

    def close(self) -> None:
        """Remove the folder on the device (best effort: a warning, never a second error)."""
        try:
            if self.folder is not None and self.removed is None:
                quoted = shlex.quote(self.folder)
                try:
                    done = self.target.run(f"rm -rf -- {quoted} && [ ! -e {quoted} ]", timeout_s=30,
                                           what="removing the temporary folder")
                    self.removed = done.returncode == 0
                    reason = tail(done.stderr.decode(errors="replace"))
                except DeviceError as exc:
                    self.removed, reason = False, str(exc)
                if not self.removed:
                    sys.stderr.write(f"edgekit: warning: could not remove {self.folder} on {self.target.label}: {reason}\n")
        finally:
            self._restore_sigterm()

    def _sigterm_as_interrupt(self) -> None:
        """SIGTERM (a CI job cancelled, kill PID) runs the cleanup like Ctrl-C does."""
        if threading.current_thread() is threading.main_thread():
            def interrupt(signum, frame):
                raise KeyboardInterrupt(f"signal {signum}")

            self._previous_sigterm = signal.signal(signal.SIGTERM, interrupt)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
