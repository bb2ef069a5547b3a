"""``run``: load a predictor and serve it with uvicorn, hardened, in one or N processes.

With ``workers > 1`` uvicorn needs an import string, so the configuration travels to the
worker processes as JSON in ``EDGEKIT_SERVE_CONFIG`` and each worker builds its own app
(and loads its own copy of the model) through the :func:`app_from_env` factory.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import ConfigError, InferenceError
from edgekit.serve.app import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_DELAY_MS, create_app
from edgekit.serve.limits import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_BYTES
from edgekit.serve.predictors import check_name, check_source, load_predictor, model_file_as_export

CONFIG_ENV = "EDGEKIT_SERVE_CONFIG"
FACTORY = "edgekit.serve.server:app_from_env"


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``edgekit serve`` takes; JSON-able so worker processes can rebuild it."""

    bundle: str | None = None  # a bundle folder (or a model file, moved to ``export`` by validate)
    export: str | None = None
    name: str | None = None
    signature: str | None = None  # which signature of a multi-signature .tflite file
    threads: int | None = None  # backend threads for model files
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    batching: bool = True
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_delay_ms: float = DEFAULT_MAX_DELAY_MS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    body_timeout: float = DEFAULT_BODY_TIMEOUT  # a request body must arrive within this many seconds
    log: str | None = None
    # uvicorn hardening: past limit_concurrency connections+tasks new requests get 503;
    # idle keep-alive connections close after timeout_keep_alive s; request head (line +
    # headers) at most h11_max_incomplete_event_size bytes; listen backlog.
    limit_concurrency: int = 512
    timeout_keep_alive: int = 5
    h11_max_incomplete_event_size: int = 16 * 1024
    backlog: int = 1024
    timeout_graceful_shutdown: int = 10
    access_log: bool = False
    log_level: str = "info"

    def validate(self) -> "ServeConfig":
        """Checked settings; a model file given as the bundle comes back as ``export``."""
        if self.bundle is None and self.export is None:
            raise ConfigError("nothing to serve: give a bundle folder (and optionally --export FILE) or a model file")
        checks = (
            (self.port, 0, 65535, "--port"), (self.workers, 1, 64, "--workers"),
            (self.max_batch_size, 1, 1 << 20, "--max-batch-size"), (self.max_body_bytes, 1024, 1 << 34, "--max-body-bytes"),
            (self.limit_concurrency, 1, 1 << 20, "limit_concurrency"), (self.backlog, 1, 1 << 16, "backlog"),
        )
        for value, low, high, option in checks:
            if not low <= value <= high:
                raise ConfigError(f"{option} must be between {low} and {high}, got {value}")
        if not 0 < self.body_timeout <= 3600:
            raise ConfigError(f"--body-timeout must be between 0 and 3600 s, got {self.body_timeout}")
        if not 0 <= self.max_delay_ms <= 10_000:
            raise ConfigError(f"--max-delay-ms must be between 0 and 10000, got {self.max_delay_ms}")
        if self.threads is not None and not 1 <= self.threads <= 256:
            raise ConfigError(f"--threads must be between 1 and 256, got {self.threads}")
        if self.name is not None:
            check_name(self.name)
        bundle, export = model_file_as_export(self.bundle, self.export)
        return replace(self, bundle=bundle, export=export)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ServeConfig":
        data = json.loads(text)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def build_app(config: ServeConfig):
    """Load the model named by ``config`` and wrap it in an app."""
    predictor = load_predictor(config.bundle, config.export, name=config.name, signature=config.signature,
                               threads=config.threads)
    return create_app(
        predictor, batching=config.batching, max_batch_size=config.max_batch_size,
        max_delay_ms=config.max_delay_ms, max_body_bytes=config.max_body_bytes, body_timeout=config.body_timeout,
        log=config.log,
    )


def app_from_env():
    """uvicorn factory for worker processes."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise ConfigError(f"{CONFIG_ENV} is not set; start workers through edgekit.serve.run")
    return build_app(ServeConfig.from_json(text))


def uvicorn_options(config: ServeConfig) -> dict[str, Any]:
    return {
        "host": config.host,
        "port": config.port,
        "http": "h11",  # h11_max_incomplete_event_size only applies to it
        # uvloop when installed (the serve extra has it; measured ~10% less CPU per request than asyncio)
        "loop": "auto",
        "lifespan": "on",  # a model that fails to warm up stops the server
        "limit_concurrency": config.limit_concurrency,
        "timeout_keep_alive": config.timeout_keep_alive,
        "h11_max_incomplete_event_size": config.h11_max_incomplete_event_size,
        "backlog": config.backlog,
        "timeout_graceful_shutdown": config.timeout_graceful_shutdown,
        "access_log": config.access_log,
        "log_level": config.log_level,
        "proxy_headers": False,
        "server_header": False,
    }


def run(bundle: str | os.PathLike | None = None, *, export: str | os.PathLike | None = None, **options: Any) -> None:
    """Serve until interrupted. Options are the fields of :class:`ServeConfig`."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = ServeConfig(bundle=_str(bundle), export=_str(export), **options).validate()
    if config.workers == 1:
        sock = _listen(config)  # a busy port fails before the model is loaded
        try:
            app = build_app(config)
            uv_config = uvicorn.Config(app, **uvicorn_options(config))  # also sets up uvicorn's logging
            state = app.state.edgekit
            _announce(config, sock, state.predictor.describe(), state.name, batching=state.batcher.enabled)
            server = uvicorn.Server(uv_config)
            server.run(sockets=[sock])
        finally:
            sock.close()
        if not server.started:
            raise InferenceError("the server did not start: the model failed to warm up (see the log above)")
        return
    check_source(config.bundle, config.export)  # fail once here, not in every worker
    os.environ[CONFIG_ENV] = config.to_json()
    uv_config = uvicorn.Config(FACTORY, factory=True, workers=config.workers, **uvicorn_options(config))
    sock = _listen(config)
    name = config.name or (Path(config.export).stem if config.export else Path(config.bundle).name)
    _announce(config, sock, f"{name} in {config.workers} worker processes", name)
    try:
        Multiprocess(uv_config, sockets=[sock]).run()
    finally:
        sock.close()


def tcp_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket whose accepted connections get TCP_NODELAY.

    asyncio sets TCP_NODELAY on accepted connections only when the listening socket's
    ``proto`` is IPPROTO_TCP. A socket made as ``socket.socket(AF_INET)`` has proto 0,
    and then every keep-alive response (written in two parts) stalls ~40 ms on Nagle +
    delayed ACK: measured 44 ms instead of 0.7 ms per request on loopback. uvicorn's own
    ``bind_socket`` (which ``uvicorn.run`` uses for ``workers > 1``) makes such a socket
    (github.com/Kludex/uvicorn/issues/3149, open), so edgekit always binds its own."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _listen(config: ServeConfig) -> socket.socket:
    try:
        return tcp_socket(config.host, config.port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
                          hint="choose another --port or --host") from exc


def _announce(config: ServeConfig, sock: socket.socket, what: str, name: str, *, batching: bool | None = None) -> None:
    host, port = sock.getsockname()[:2]
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    if config.batching if batching is None else batching:
        batching = f"micro-batching up to {config.max_batch_size} rows within {config.max_delay_ms:g} ms"
    else:
        batching = "no batching (the model has no batch dimension)" if config.batching else "no batching"
    print(f"edgekit serve: {what}; {batching}\n"
          f"  V2 (Triton/KServe): {base}/v2/models/{name}/infer\n"
          f"  TF Serving:         {base}/v1/models/{name}:predict\n"
          f"  OpenAPI:            {base}/openapi.json  (docs at {base}/docs)", file=sys.stderr, flush=True)


def _str(path: str | os.PathLike | None) -> str | None:
    return None if path is None else os.fspath(path)
