"""Start a server on a free loopback port for tests and benchmarks, and stop it again.

``serve_in_thread(app)`` runs an app (from :func:`create_app`) under uvicorn in a
background thread of this process; ``serve_in_subprocess(model, ...)`` runs the real
``edgekit serve`` command in its own process, as a benchmark should (the client then
does not share the server's GIL). ``model`` is a bundle folder or any .tflite/.onnx/.ort
file. Both return once ``/v2/health/ready`` answers 200 (the model is loaded and warmed up).

>>> with serve_in_subprocess("bundles/auto-mpg-mpg") as server:
...     httpx.post(f"{server.url}/v1/models/{server.name}:predict", json={...})
>>> with serve_in_subprocess("kws.tflite", "--max-batch-size", "64") as server:
...     server.name                         # 'kws': GET {server.url}/v2/models/kws for its tensors
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

READY_PATH = "/v2/health/ready"


@dataclass
class RunningServer:
    """A started server: its base URL, the model name when known, and ``stop()``."""

    url: str
    name: str | None
    _stop: Callable[[], None] = field(repr=False)
    process: subprocess.Popen | None = None
    _log: Any = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        """Shut the server down (idempotent)."""
        if not self._stopped:
            self._stopped = True
            self._stop()

    def output(self) -> str:
        """What a subprocess server printed so far (empty for a thread server)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, *, timeout: float = 120.0, alive: Callable[[], bool] | None = None) -> None:
    """Poll ``url + /v2/health/ready`` until 200; fail early once ``alive()`` is False."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            with urllib.request.urlopen(url + READY_PATH, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if alive is not None and not alive():
            raise RuntimeError(f"the server at {url} stopped before it was ready")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server at {url} was not ready after {timeout:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def serve_in_thread(app, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 60.0,
                    **uvicorn_options: Any) -> RunningServer:
    """Run ``app`` under uvicorn in a daemon thread; the socket is bound before it starts,
    so ``port=0`` picks a free port without a race."""
    import uvicorn

    from edgekit.serve.server import ServeConfig, tcp_socket, uvicorn_options as hardened

    options = {k: v for k, v in hardened(ServeConfig()).items() if k not in ("host", "port")}
    options.update(log_level="warning")
    options.update(uvicorn_options)
    sock = tcp_socket(host, port)
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="edgekit-serve")
    thread.start()
    url = f"http://{host}:{sock.getsockname()[1]}"

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()

    try:
        wait_until_ready(url, timeout=timeout, alive=thread.is_alive)
    except BaseException:
        stop()
        raise
    state = getattr(getattr(app, "state", None), "edgekit", None)
    return RunningServer(url, getattr(state, "name", None), stop)


def serve_in_subprocess(bundle: str | os.PathLike, *args: str, export: str | os.PathLike | None = None,
                        host: str = "127.0.0.1", timeout: float = 180.0, env: dict[str, str] | None = None,
                        python: str | None = None, attempts: int = 3) -> RunningServer:
    """Run ``edgekit serve MODEL [--export FILE] ARGS...`` on a free port of ``host``;
    ``bundle`` is a bundle folder or a model file (then served as its own tensors unless
    it is an edgekit tabular export).

    ``args`` are further CLI options (e.g. ``"--no-batching"``, ``"--workers", "2"``). The
    port is picked just before the start; if another process takes it first, the start is
    retried on a new port (up to ``attempts`` times)."""
    for attempt in range(attempts):
        port = free_port(host)
        cmd = [python or sys.executable, "-m", "edgekit", "serve", os.fspath(bundle), "--host", host, "--port", str(port)]
        if export is not None:
            cmd += ["--export", os.fspath(export)]
        cmd += list(args)
        log = tempfile.TemporaryFile()
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        url = f"http://{host}:{port}"
        server = RunningServer(url, _name_from_args(bundle, export, args), lambda p=process: _terminate(p), process, log)
        try:
            wait_until_ready(url, timeout=timeout, alive=lambda p=process: p.poll() is None)
        except RuntimeError:
            text = server.output()
            server.stop()
            if "address already in use" in text.lower() and attempt + 1 < attempts:
                continue
            raise RuntimeError(f"edgekit serve exited with code {process.returncode}:\n{_tail(text)}") from None
        except BaseException:
            server.stop()
            raise
        return server
    raise RuntimeError("unreachable")  # pragma: no cover


def _terminate(process: subprocess.Popen, grace: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: the workers too
            process.wait(timeout=10)


def _name_from_args(bundle, export, args: Sequence[str]) -> str:
    args = list(args)
    if "--name" in args and args.index("--name") + 1 < len(args):
        return args[args.index("--name") + 1]
    if export is not None:
        return Path(export).stem
    return Path(bundle).stem if Path(bundle).is_file() else Path(bundle).name


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
