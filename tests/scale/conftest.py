"""Fixtures for batch scoring on Dask: a real `dask scheduler` + `dask worker` processes on
loopback (random free ports, no dashboards, killed at teardown), multi-file Parquet inputs
made from a bundle's test split, and the single-process `edgekit predict` reference."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

DASK = str(Path(sys.executable).with_name("dask"))
CHILD_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "EDGEKIT_PROGRESS": "0"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: Path | None = None

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process.poll() is None:
                process.kill()
        for process in [*self.workers, self.scheduler]:
            process.wait(timeout=30)


def start_cluster(logs: Path, n_workers: int = 2, *, worker_env: dict | None = None) -> Cluster:
    """`dask scheduler` and `n_workers` `dask worker --no-nanny` processes (one thread each:
    no nanny, so a SIGKILL takes a worker away for good instead of restarting it)."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs.mkdir(parents=True, exist_ok=True)

    def spawn(name, args, env):
        log = open(logs / f"{name}.log", "wb")
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=logs)

    scheduler = spawn("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                      CHILD_ENV)
    cluster = Cluster(address, scheduler, logs=logs)
    for i in range(n_workers):
        cluster.workers.append(spawn(f"worker{i}", [DASK, "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                                                    "--no-nanny", "--no-dashboard", "--name", f"w{i}"],
                                     {**CHILD_ENV, **(worker_env or {})}))
    try:
        wait_for_workers(address, n_workers)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def wait_for_workers(address: str, n: int, timeout: float = 120) -> None:
    from distributed import Client

    deadline = time.monotonic() + timeout
    while True:
        try:
            with Client(address, timeout=5) as client:
                client.wait_for_workers(n, timeout=max(deadline - time.monotonic(), 1))
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    """A real two-worker cluster shared by the tests that do not kill anything."""
    cluster = start_cluster(tmp_path_factory.mktemp("dask-cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster_factory(tmp_path):
    """Start private clusters (for tests that kill workers or break their environment)."""
    started: list[Cluster] = []

    def make(n_workers: int = 2, **kwargs) -> Cluster:
        started.append(start_cluster(tmp_path / f"cluster{len(started)}", n_workers, **kwargs))
        return started[-1]

    yield make
    for cluster in started:
        cluster.stop()


@dataclass(frozen=True)
class ScaleInput:
    """A bundle's test split with ids, as several Parquet files, and the single-process reference."""

    model: Path
    frame: pd.DataFrame
    parquet: Path
    reference: list[list[str]]  # single-process `edgekit predict` CSV: header + rows


def _scale_input(built, export: str, folder: Path) -> ScaleInput:
    model = built.export(export)
    frame = pd.read_csv(built.bundle / "data" / "test.csv")
    frame.insert(0, "car_id", [f"car-{i:04d}" for i in range(len(frame))])
    parquet = write_parquet_parts(frame, folder / "parquet", [30, 25])
    return ScaleInput(model, frame, parquet, single_process_predict(model, frame, folder))


@pytest.fixture(scope="session")
def svm_input(mpg_svm, tmp_path_factory) -> ScaleInput:
    return _scale_input(mpg_svm, "onnx-fp32", tmp_path_factory.mktemp("svm-input"))


@pytest.fixture(scope="session")
def nn_input(mpg_nn, tmp_path_factory) -> ScaleInput:
    return _scale_input(mpg_nn, "tflite-fp32", tmp_path_factory.mktemp("nn-input"))


@pytest.fixture
def edgekit_cli(capsys):
    """Run the real CLI entry point in this process: (exit code, stderr)."""
    from edgekit.cli.main import main

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in args])
        return exit_info.value.code, capsys.readouterr().err

    return run


def write_parquet_parts(frame: pd.DataFrame, folder: Path, sizes: list[int], *, row_group_size: int = 16) -> Path:
    """Split ``frame`` into Parquet files of ``sizes`` rows (the rest in the last file)."""
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for i, size in enumerate([*sizes, len(frame)]):
        chunk = frame.iloc[start:start + size] if i < len(sizes) else frame.iloc[start:]
        if len(chunk):
            chunk.to_parquet(folder / f"cars-{i}.parquet", index=False, row_group_size=row_group_size)
        start += size
    return folder


def single_process_predict(model: Path, frame: pd.DataFrame, folder: Path, *, passthrough: str = "mpg",
                           batch_size: int = 4096) -> list[list[str]]:
    """Today's single-process `edgekit predict` on the same rows as CSV: the reference. (ONNX
    Runtime's float32 results can differ in the 6th digit between batch sizes: compare runs
    that batch alike.)"""
    source, out = folder / "reference_input.csv", folder / "reference.csv"
    frame.to_csv(source, index=False)
    done = subprocess.run([sys.executable, "-m", "edgekit", "predict", str(model), str(source), "--out", str(out),
                           "--id-column", "car_id", "--passthrough", passthrough, "--batch-size", str(batch_size)],
                          capture_output=True, text=True,
                          env=CHILD_ENV, timeout=300)
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="session")
def as_reference_rows():
    """Parquet output rendered the way single-process predict writes its CSV."""

    def render(out: Path) -> list[list[str]]:
        parts = pd.read_parquet(out)
        header = list(parts.columns)
        rows = [header]
        for record in parts.itertuples(index=False):
            rows.append([f"{v:.9g}" if name == "prediction" else str(v) for name, v in zip(header, record)])
        return rows

    return render


@pytest.fixture(scope="session")
def scale_tools():
    """The helpers above, for test modules (conftest modules are not importable by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(env=CHILD_ENV, write_parquet_parts=write_parquet_parts,
                           single_process_predict=single_process_predict)
