"""MLServer as a serving peer, in a virtual environment of its own (benchmark only).

MLServer 1.7.1 + mlserver-sklearn is installed into its own venv (never into edgekit's
environment: its pins would fight ours), with ``uvloop<0.21`` and ``uvicorn<0.35`` (newer
ones stop it at start: "There is no current event loop") and the same scikit-learn,
numpy, pandas and joblib versions as this process, so that the pickled pipeline loads
there exactly as fitted here.

BENCHMARK ONLY, CLEARLY NOT FOR USERS: mlserver-sklearn loads models with joblib (pickle),
so the benchmark writes the bundle's fitted pipeline as ``model.joblib`` into a folder
under that venv. edgekit itself ships and loads models with skops only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from edgekit.benchmarks.edge import BenchmarkError

MLSERVER_VERSION = "1.7.1"
DEFAULT_VENV = Path.home() / ".cache" / "edgekit" / "mlserver-venv"
PIN_FILE = "edgekit-pins.json"


@dataclass(frozen=True)
class MLServerSettings:
    """What MLServer is given: adaptive batching of 32 rows / 2 ms, inference in its HTTP
    process. ``parallel_workers=0`` is its best here: on Auto MPG it spent 2.1 CPU ms per
    request at concurrency 32 against 3.0 ms with one worker process behind the HTTP one
    (15 vs 18 ms at concurrency 1), and it is one process, like ``edgekit serve``."""

    parallel_workers: int = 0  # inference processes beside the HTTP process (0: in the HTTP process)
    max_batch_size: int = 32  # adaptive batching: rows per model call ...
    max_batch_time_s: float = 0.002  # ... or this long after the first request

    def to_dict(self) -> dict:
        return {"parallel_workers": self.parallel_workers, "max_batch_size": self.max_batch_size,
                "max_batch_time_s": self.max_batch_time_s}


def requirements() -> list[str]:
    """The peer's pip requirements: MLServer pinned, our model libraries at our versions."""
    import joblib
    import numpy
    import pandas
    import sklearn

    return [f"mlserver=={MLSERVER_VERSION}", f"mlserver-sklearn=={MLSERVER_VERSION}", "uvloop<0.21", "uvicorn<0.35",
            f"scikit-learn=={sklearn.__version__}", f"numpy=={numpy.__version__}", f"pandas=={pandas.__version__}",
            f"joblib=={joblib.__version__}"]


def ensure_venv(venv: Path = DEFAULT_VENV, *, python: str | None = None, quiet: bool = False) -> Path:
    """Create (once) the peer's venv; return its ``mlserver`` executable. A venv made
    with other pins is installed again."""
    venv = Path(venv).expanduser()
    wanted = requirements()
    mlserver = venv / "bin" / "mlserver"
    pins = venv / PIN_FILE
    if mlserver.is_file() and pins.is_file() and json.loads(pins.read_text()) == wanted:
        return mlserver
    base = python or _base_python()
    if not (venv / "bin" / "python").is_file():
        _run([base, "-m", "venv", str(venv)], "create the MLServer venv")
    if not quiet:
        print(f"installing {' '.join(wanted)} into {venv} (once; about a minute)", file=sys.stderr, flush=True)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *wanted],
         "install MLServer into its venv")
    if not mlserver.is_file():
        raise BenchmarkError(f"{mlserver} is missing after pip install")
    pins.write_text(json.dumps(wanted))
    return mlserver


def _base_python() -> str:
    # A venv made from this (venv) interpreter would work too; the base one keeps them apart.
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(base) if base.is_file() else sys.executable


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BenchmarkError(f"could not {what}: {' | '.join(tail) or f'exit {done.returncode}'}")


def write_model_folder(pipeline, folder: Path, *, name: str, settings: MLServerSettings, http_port: int,
                       grpc_port: int, metrics_port: int) -> Path:
    """MLServer's model repository: settings.json plus NAME/model-settings.json and the
    pipeline as model.joblib (benchmark only: joblib is pickle)."""
    import joblib

    folder = Path(folder)
    model_dir = folder / name
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, model_dir / "model.joblib")
    (model_dir / "README.txt").write_text(
        "Benchmark-only copy of an edgekit bundle's pipeline, pickled with joblib for mlserver-sklearn.\n"
        "Do not load it anywhere else: edgekit ships models as skops files.\n")
    (model_dir / "model-settings.json").write_text(json.dumps({
        "name": name,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "max_batch_size": settings.max_batch_size,
        "max_batch_time": settings.max_batch_time_s,
        "parameters": {"uri": "./model.joblib", "version": "1"},
    }, indent=2))
    (folder / "settings.json").write_text(json.dumps({
        "debug": False,
        "parallel_workers": settings.parallel_workers,
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "host": "127.0.0.1",
        "load_models_at_startup": True,
    }, indent=2))
    return folder


class MLServerProcess:
    """``mlserver start FOLDER`` in its own process group, stopped with the group."""

    def __init__(self, mlserver: Path, folder: Path, *, http_port: int, name: str, timeout_s: float = 180.0):
        self.url = f"http://127.0.0.1:{http_port}"
        self.name = name
        self._log = tempfile.TemporaryFile()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env["PATH"] = f"{Path(mlserver).parent}{os.pathsep}{env.get('PATH', '')}"
        self.process = subprocess.Popen([str(mlserver), "start", str(folder)], cwd=folder, env=env,
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        ready = f"{self.url}/v2/models/{self.name}/ready"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkError(f"mlserver exited with {self.process.returncode}: {self.output_tail()}")
            try:
                with urllib.request.urlopen(ready, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.25)
        raise BenchmarkError(f"mlserver did not get ready within {timeout_s:.0f} s: {self.output_tail()}")

    def output_tail(self, lines: int = 5) -> str:
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def pids(self) -> list[int]:
        """The server's processes (the HTTP process and its inference workers)."""
        import psutil

        try:
            root = psutil.Process(self.process.pid)
            return [root.pid, *(p.pid for p in root.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> "MLServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

