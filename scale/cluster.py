"""Where the workers come from: ``local[:N]`` starts a LocalCluster for the run, a
``tcp://HOST:PORT`` (or ``tls://``) address joins a running one — started by hand with
``dask scheduler`` / ``dask worker``, or by dask-kubernetes, dask-jobqueue and the like."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass
from typing import Iterator

from edgekit.runtime.errors import ConfigError

CONNECT_TIMEOUT_S = 6  # with the first-worker wait, an unusable address fails well within 15 s
WORKER_WAIT_S = 4


@dataclass(frozen=True)
class SchedulerSpec:
    address: str | None  # None: start a LocalCluster
    n_workers: int = 1

    @property
    def label(self) -> str:
        return self.address or f"local:{self.n_workers}"


def parse_scheduler(text: str) -> SchedulerSpec:
    match = re.fullmatch(r"local(?::(\d+))?", text.strip())
    if match:
        workers = int(match.group(1)) if match.group(1) else (os.cpu_count() or 1)
        if workers < 1:
            raise ConfigError(f"--scheduler {text}: a local cluster needs at least 1 worker")
        return SchedulerSpec(None, workers)
    if re.fullmatch(r"(tcp|tls)://[^\s/]+:\d+/?", text.strip()):
        return SchedulerSpec(text.strip().rstrip("/"))
    raise ConfigError(f"--scheduler {text!r} is neither local[:N] nor a scheduler address",
                      hint="use local, local:4 or tcp://HOST:8786")


@contextlib.contextmanager
def connect(spec: SchedulerSpec) -> Iterator:
    """A distributed Client for the run; a local cluster is stopped when the run ends."""
    from distributed import Client, LocalCluster

    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # worker restarts and lost connections are reported by edgekit itself
    try:
        if spec.address is None:
            with LocalCluster(n_workers=spec.n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                              silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
                yield client
            return
        try:
            client = Client(spec.address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {spec.address} ({exc})",
                              hint="start one with `dask scheduler` and `dask worker ADDRESS`, or use --scheduler local") from None
        with client:
            try:
                client.wait_for_workers(1, timeout=WORKER_WAIT_S)
            except TimeoutError:
                raise ConfigError(f"the Dask scheduler at {spec.address} has no workers",
                                  hint=f"start some with `dask worker {spec.address}`") from None
            yield client
    finally:
        quiet.setLevel(level)
