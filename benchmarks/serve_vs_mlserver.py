"""edgekit serve against MLServer on the same scikit-learn pipeline, same client, same requests.

    python -m edgekit.benchmarks.serve_vs_mlserver [--bundle DIR] [--venv DIR] [--seconds S] [--repeat K]

The pipeline is what ``edgekit train auto-mpg --target mpg --models svm`` makes
(ColumnTransformer + SVR; trained once into ``--work`` when no ``--bundle`` is given).
``edgekit serve BUNDLE`` serves its source model; MLServer 1.7.1 (mlserver-sklearn, in a
venv of its own made by ``edgekit.benchmarks.mlserver_peer``) serves the same fitted
pipeline, pickled with joblib for it (benchmark only). Both run as one process (MLServer
with ``parallel_workers=0``, its most efficient setting here; ``--mlserver-workers 1``
puts its inference in a worker process behind the HTTP one), with micro-batching of up
to 32 rows in a 2 ms window, and both are driven by the same load generator (``edgekit.benchmarks.http_load``, in this process) sending byte-identical
KServe V2 requests: one row each, one FP32 [1, 1] tensor per feature and
``parameters.content_type = "pd"`` (what MLServer needs to hand the pipeline a
DataFrame; edgekit ignores it). Before any timing both servers must answer the test rows
with the pipeline's own predictions.

Concurrency levels are measured round-robin over the servers ``--repeat`` times and the
fastest run of each (server, concurrency) is kept: on a shared machine that is the one
least disturbed by other work. CPU ms per request (every process of the server, user +
system) shows what a server spends regardless of how busy the machine is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgekit.benchmarks.edge import BenchmarkError
from edgekit.benchmarks.http_load import Connection, Target, closed_loop, timed_requests

DEFAULT_WORK = Path.home() / ".cache" / "edgekit" / "serve-vs-mlserver"
MODEL_NAME = "auto-mpg"


@dataclass(frozen=True)
class Peer:
    """A running V2 server to measure: label, base URL, model name, output to read, pids."""

    label: str
    url: str
    model: str
    output: str
    pids: Callable[[], list[int]] = field(default=lambda: [], repr=False)
    triton_stats: bool = False  # GET /v2/models/NAME/stats gives inference/execution counts (edgekit, Triton)


@dataclass(frozen=True)
class Settings:
    concurrency: tuple[int, ...] = (1, 32)
    seconds: float = 5.0
    repeat: int = 3
    warmup_requests: int = 100


def request_bodies(rows: list[dict[str, Any]], schema) -> list[bytes]:
    """The one request shape both servers get: V2, one row, one [1, 1] tensor per feature."""
    from edgekit.benchmarks.cloud import v2_bodies

    bodies = []
    for body in v2_bodies(rows, schema):
        doc = json.loads(body)
        doc["parameters"] = {"content_type": "pd"}
        bodies.append(json.dumps(doc).encode())
    return bodies


def check_answers(peer: Peer, bodies: list[bytes], expected: np.ndarray, tolerance: float = 1e-4) -> None:
    """Every server must return the pipeline's own predictions before it is timed."""
    async def ask() -> list[float]:
        target = Target.parse(peer.url, f"/v2/models/{peer.model}/infer")
        connection = Connection(target)
        values = []
        try:
            for body in bodies:
                status, answer = await connection.send(target.request(body))
                if status != 200:
                    raise BenchmarkError(f"{peer.label} answered {status}: {answer[:200]!r}")
                outputs = {o["name"]: o for o in json.loads(answer)["outputs"]}
                if peer.output not in outputs:
                    raise BenchmarkError(f"{peer.label} has no output {peer.output!r}: {sorted(outputs)}")
                values.append(float(outputs[peer.output]["data"][0]))
        finally:
            await connection.close()
        return values

    got = np.asarray(asyncio.run(ask()))
    worst = float(np.max(np.abs(got - expected) / np.maximum(1.0, np.abs(expected))))
    if worst > tolerance:
        raise BenchmarkError(f"{peer.label} does not reproduce the pipeline's predictions (worst relative error {worst:.2e})")


def cpu_seconds(pids: Sequence[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def model_call_counts(peer: Peer) -> tuple[int, int]:
    """(rows predicted, model calls) so far, from the Triton-style statistics endpoint."""
    import urllib.request

    with urllib.request.urlopen(f"{peer.url}/v2/models/{peer.model}/stats", timeout=10) as response:
        stats = json.loads(response.read())["model_stats"][0]
    return stats["inference_count"], stats["execution_count"]


def measure(peers: Sequence[Peer], bodies: list[bytes], settings: Settings) -> dict[str, Any]:
    """Round-robin closed-loop runs; per (server, concurrency) every run and the fastest."""
    runs: dict[str, dict[int, list[dict]]] = {p.label: {c: [] for c in settings.concurrency} for p in peers}

    async def one(peer: Peer, concurrency: int) -> dict:
        target = Target.parse(peer.url, f"/v2/models/{peer.model}/infer")
        requests = [target.request(b) for b in bodies]
        await timed_requests(target, requests, settings.warmup_requests)
        pids = peer.pids()
        counts = model_call_counts(peer) if peer.triton_stats else None
        before = cpu_seconds(pids)
        result = await closed_loop(target, requests, concurrency, settings.seconds, latencies=True)
        used = cpu_seconds(pids) - before
        result["cpu_ms_per_request"] = used * 1e3 / result["requests"] if result["requests"] and pids else None
        if counts is not None:
            rows, calls = (a - b for a, b in zip(model_call_counts(peer), counts))
            result["rows_per_model_call"] = rows / calls if calls else None
        return result

    for round_no in range(settings.repeat):
        order = list(peers) if round_no % 2 == 0 else list(reversed(peers))  # neither always goes first
        for concurrency in settings.concurrency:
            for peer in order:
                result = asyncio.run(one(peer, concurrency))
                if result["errors"]:
                    raise BenchmarkError(f"{peer.label}: {result['errors']} failed requests at concurrency {concurrency}")
                runs[peer.label][concurrency].append(result)
    best = {label: {c: max(rs, key=lambda r: r["rows_per_s"]) for c, rs in by_c.items()} for label, by_c in runs.items()}
    return {"runs": runs, "best": best}


def table(result: dict[str, Any], labels: Sequence[str], concurrency: Sequence[int]) -> str:
    """server | concurrency | rows/s | p50 | p99 | CPU ms/request | ratio to the last server."""
    best = result["best"]
    reference = labels[-1]
    lines = [f"{'server':<28} {'conc':>4} {'rows/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>10} {'ratio':>6}"]
    for c in concurrency:
        for label in labels:
            r = best[label][c]
            lat = r.get("latency_ms", {})
            cpu = r.get("cpu_ms_per_request")
            ratio = r["rows_per_s"] / best[reference][c]["rows_per_s"]
            lines.append(f"{label:<28} {c:>4} {r['rows_per_s']:>9.1f} {lat.get('p50', float('nan')):>8.2f} "
                         f"{lat.get('p99', float('nan')):>8.2f} {'-' if cpu is None else f'{cpu:.2f}':>10} {ratio:>6.2f}")
    return "\n".join(lines)


def ratios(result: dict[str, Any], label: str, reference: str) -> dict[int, float]:
    best = result["best"]
    return {c: best[label][c]["rows_per_s"] / best[reference][c]["rows_per_s"] for c in best[label]}


def ensure_bundle(work: Path) -> Path:
    """The Auto MPG SVR bundle ``edgekit train auto-mpg --target mpg --models svm`` makes."""
    from edgekit.train import TrainConfig, load_bundle, train

    bundle = work / "bundle"
    if (bundle / "model_card.json").is_file():
        try:
            card = load_bundle(bundle).card
            if card.framework == "sklearn" and card.winner.get("name") == "svm":
                return bundle
        except Exception:  # a broken leftover is trained again
            pass
    print(f"training the Auto MPG SVR pipeline into {bundle}", file=sys.stderr, flush=True)
    train("auto-mpg", TrainConfig(target="mpg", models=("svm",)), n_jobs=1, show_progress=False).save(bundle)
    return bundle


def run(bundle: Path, *, venv: Path, work: Path, settings: Settings, mlserver_settings,
        batching: bool = True) -> dict[str, Any]:
    from edgekit.benchmarks.mlserver_peer import MLServerProcess, ensure_venv, write_model_folder
    from edgekit.serve.launcher import free_port, serve_in_subprocess
    from edgekit.train import load_bundle

    loaded = load_bundle(bundle)
    schema = loaded.card.schema
    # Complete rows only: a missing value would be JSON null, which MLServer's FP32 codec refuses.
    rows = loaded.split("test")[schema.names].dropna().to_dict("records")
    bodies = request_bodies(rows, schema)
    expected = loaded.source_model().predict_rows(rows)
    mlserver = ensure_venv(venv)
    http, grpc, metrics = free_port(), free_port(), free_port()
    folder = write_model_folder(loaded.model, work / "mlserver-models", name=MODEL_NAME, settings=mlserver_settings,
                                http_port=http, grpc_port=grpc, metrics_port=metrics)
    extra = [] if batching else ["--no-batching"]
    with serve_in_subprocess(bundle, "--name", MODEL_NAME, *extra, timeout=180) as server, \
            MLServerProcess(mlserver, folder, http_port=http, name=MODEL_NAME) as peer:
        peers = [Peer("edgekit serve", server.url, MODEL_NAME, "prediction", lambda: [server.process.pid], True),
                 Peer(f"MLServer {_mlserver_version()}", peer.url, MODEL_NAME, "predict", peer.pids)]
        for p in peers:
            check_answers(p, bodies, expected)
        result = measure(peers, bodies, settings)
    result["labels"] = [p.label for p in peers]
    result["settings"] = {"edgekit": {"workers": 1, "max_batch_size": 32, "max_delay_ms": 2.0, "batching": batching},
                          "mlserver": mlserver_settings.to_dict(), "seconds": settings.seconds,
                          "repeat": settings.repeat, "concurrency": list(settings.concurrency),
                          "request_bytes": sum(map(len, bodies)) // len(bodies), "rows": len(rows)}
    return result


def _mlserver_version() -> str:
    from edgekit.benchmarks.mlserver_peer import MLSERVER_VERSION

    return MLSERVER_VERSION


def main(argv: Sequence[str] | None = None) -> int:
    from edgekit.benchmarks.mlserver_peer import DEFAULT_VENV, MLServerSettings

    parser = argparse.ArgumentParser(prog="python -m edgekit.benchmarks.serve_vs_mlserver", description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, help="an Auto MPG-like sklearn bundle (default: train one into --work)")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help=f"MLServer's own venv (default {DEFAULT_VENV})")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for the bundle and MLServer's models")
    parser.add_argument("--seconds", type=float, default=5.0, help="per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per server and concurrency (fastest kept)")
    parser.add_argument("--concurrency", default="1,32")
    parser.add_argument("--mlserver-workers", type=int, default=0,
                        help="MLServer parallel_workers (0, the default: inference in its one process, like edgekit)")
    parser.add_argument("--json", type=Path, help="write every run here")
    args = parser.parse_args(argv)
    settings = Settings(concurrency=tuple(int(c) for c in args.concurrency.split(",")), seconds=args.seconds,
                        repeat=args.repeat)
    work = args.work.expanduser()
    work.mkdir(parents=True, exist_ok=True)
    try:
        bundle = args.bundle or ensure_bundle(work)
        result = run(bundle, venv=args.venv, work=work, settings=settings,
                     mlserver_settings=MLServerSettings(parallel_workers=args.mlserver_workers))
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    labels = result["labels"]
    print(f"Auto MPG SVR pipeline, KServe V2 one row per request, {settings.seconds:g} s per run, fastest of "
          f"{settings.repeat}; edgekit: {result['settings']['edgekit']}; MLServer: {result['settings']['mlserver']}")
    print(table(result, labels, settings.concurrency))
    for c, r in ratios(result, labels[0], labels[1]).items():
        filled = result["best"][labels[0]][c].get("rows_per_model_call")
        print(f"edgekit/MLServer throughput at concurrency {c}: {r:.2f}x"
              + ("" if filled is None else f" (edgekit: {filled:.1f} rows per model call)"))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
