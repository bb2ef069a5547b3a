"""The driver of a batch-scoring run: plan, resume, submit, watch, verify.

Each planned piece (a known slice of a known file) becomes one ``dask.delayed`` task that
streams it in batches, scores it and writes its own part atomically. A worker killed mid-job
loses only unfinished tasks, which Dask reruns elsewhere; a task that reruns rewrites the same
part name, so no row is ever written twice. The run ends by checking every planned part on disk: complete, or an error
that names the missing parts (a rerun of the same command resumes).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from edgekit.runtime.errors import ConfigError, EdgekitError, InferenceError, IntegrityError
from edgekit.scale.cluster import SchedulerSpec, connect, parse_scheduler
from edgekit.scale.output import finished_parts, part_rows, prepare_output, write_manifest
from edgekit.scale.plan import CSV_BLOCK_BYTES, PARTITION_ROWS, Plan, plan_input
from edgekit.scale.worker import Job, score_piece


@dataclass(frozen=True)
class ScoreResult:
    out: Path
    rows: int
    parts: int
    skipped: int  # parts a previous run had finished
    seconds: float
    scheduler: str


def score_to_parquet(model: str | Path, source: str | Path, out: str | Path, *, scheduler: str | SchedulerSpec,
                     id_column: str | None = None, passthrough: tuple[str, ...] = (), batch_size: int = 4096,
                     threads: int | None = 1, backend: str | None = None, verify: bool = True,
                     delimiter: str | None = None, force: bool = False, partition_rows: int = PARTITION_ROWS,
                     csv_block_bytes: int = CSV_BLOCK_BYTES, show_progress: bool | None = None) -> ScoreResult:
    """Score every row of ``source`` with a tabular export on a Dask cluster into Parquet parts under ``out``."""
    started = time.perf_counter()
    spec = parse_scheduler(scheduler) if isinstance(scheduler, str) else scheduler
    model, out = Path(model).resolve(), Path(out).resolve()
    sha256, manifest = _check_model(model, verify)
    copied = ([id_column] if id_column else []) + [c for c in passthrough if c != id_column]
    plan = plan_input(source, partition_rows=partition_rows, csv_block_bytes=csv_block_bytes, delimiter=delimiter,
                      required=tuple(copied))
    identity = _identity(model, sha256, source, copied, plan)
    done = prepare_output(out, identity, plan.pieces, force=force)
    job = Job(str(model), sha256, str(out), identity["run"], threads=threads, backend=backend, verify=verify,
              id_column=id_column, passthrough=tuple(passthrough), ignored=_ignored(manifest, plan, copied),
              batch_size=batch_size)
    pending = [p for p in plan.pieces if p.index not in done]
    if pending:
        with connect(spec) as client:
            _run(client, plan, pending, done, job, out, identity, show_progress)
    parts = part_rows(out, plan.pieces)
    write_manifest(out, identity, parts=parts, complete=True)
    return ScoreResult(out, sum(p["rows"] for p in parts), len(parts), len(done), time.perf_counter() - started,
                       spec.label)


def _check_model(model: Path, verify: bool):
    """The file's sha256 (what workers must see) and its tabular manifest, without a backend:
    the driver may lack the one the workers use."""
    from edgekit.runtime import Manifest, read_manifest

    manifest = read_manifest(model)
    if not isinstance(manifest, Manifest):
        raise ConfigError(f"{model.name} has no edgekit feature schema; --scheduler scores tabular exports",
                          hint="run raw-tensor models with edgekit predict MODEL --inputs FILE.npz")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    if verify and manifest.sha256 and manifest.sha256 != digest:
        raise IntegrityError(f"{model.name}: sha256 {digest[:12]}… does not match its manifest "
                             f"({manifest.sha256[:12]}…); the file is corrupted or was changed",
                             hint="copy the export again, or pass --no-verify to run it anyway")
    return digest, manifest


def _ignored(manifest, plan: Plan, copied: list[str]) -> tuple[str, ...]:
    """Input columns the manifest says the model does not take (its target, identifiers
    training dropped): skipped and named, as single-process predict does."""
    known = dict(getattr(manifest, "ignored_columns", {}) or {})
    names = [c for c in plan.columns if c in known and c not in manifest.schema.names and c not in copied]
    if names:
        reasons = ", ".join(f"{n} ({known[n]})" for n in names)
        print(f"edgekit: ignored column(s) the model does not take: {reasons}", file=sys.stderr)
    return tuple(names)


def _identity(model: Path, sha256: str, source: str | Path, copied: list[str], plan: Plan) -> dict:
    """What makes a run the same run: the model's bytes, the INPUT argument and the copied
    columns. The files' contents are tracked per piece (Piece.key), so a rerun after an input
    file changed scores only that file's pieces again."""
    options = {"source": str(Path(source).resolve()) if Path(source).exists() else str(source), "copied": copied}
    blob = json.dumps({"model_sha256": sha256, **options}, sort_keys=True)
    return {"run": hashlib.sha256(blob.encode()).hexdigest(),
            "model": {"file": model.name, "path": str(model), "sha256": sha256},
            "options": options, "input": list(plan.files)}


def _run(client, plan: Plan, pending, done: set[int], job: Job, out: Path, identity: dict, show_progress) -> None:
    from dask import delayed
    from distributed import as_completed

    tasks = [delayed(score_piece)(piece, job, dask_key_name=f"edgekit-score-{job.run_id[:12]}-{piece.index}")
             for piece in pending]
    futures = client.compute(tasks)
    reporter = Reporter(len(plan.pieces), plan.known_rows, len(done), show_progress)
    reporter.done_rows = sum(p.rows or 0 for p in plan.pieces if p.index in done)
    try:
        with reporter:
            for future in as_completed(futures):
                summary = future.result()
                if "failure" in summary:
                    _stop(client, futures)
                    _record_partial(out, identity, plan)
                    raise summary["failure"].rebuild()
                reporter.advance(summary["rows"])
    except EdgekitError:
        _stop(client, futures)
        raise
    except Exception as exc:  # a worker died too often, the scheduler went away, ...
        _stop(client, futures)
        missing = _record_partial(out, identity, plan)
        raise InferenceError(f"the Dask job failed ({type(exc).__name__}: {_short(exc)}); "
                             f"{len(missing)} of {len(plan.pieces)} parts are missing: {_names(missing)}",
                             hint="finished parts are kept: rerun the same command to resume") from None
    missing = _record_partial(out, identity, plan)
    if missing:  # every task reported success, yet a part is not on disk: never a silent gap
        raise InferenceError(f"{len(missing)} of {len(plan.pieces)} parts are missing after the run: {_names(missing)}",
                             hint="is --out on a folder every worker shares? rerun to resume")


def _stop(client, futures) -> None:
    try:
        client.cancel(futures)
    except Exception:  # the cluster may already be gone; the error that got us here matters
        pass


def _record_partial(out: Path, identity: dict, plan: Plan) -> list[str]:
    """Write the manifest with the parts on disk; return the names of the missing ones."""
    done = finished_parts(out, plan.pieces, identity["run"])
    finished = [p for p in plan.pieces if p.index in done]
    missing = [p.part for p in plan.pieces if p.index not in done]
    write_manifest(out, identity, parts=part_rows(out, finished), complete=not missing, missing=missing)
    return missing


def _names(parts: list[str], limit: int = 5) -> str:
    return ", ".join(parts[:limit]) + (f" and {len(parts) - limit} more" if len(parts) > limit else "")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no details"


class Reporter:
    """Partitions and rows done: edgekit's rich bar on a terminal, a plain line at most once
    a second otherwise (CI logs, nohup), nothing with ``show=False`` or EDGEKIT_PROGRESS=0."""

    def __init__(self, parts: int, rows: int | None, done_parts: int, show: bool | None):
        self.parts, self.rows, self.done_parts, self.done_rows = parts, rows, done_parts, 0
        self.show = show
        self.lines = _plain_lines(show)
        self._last = 0.0

    def __enter__(self) -> "Reporter":
        from edgekit.console import progress

        self._context = progress(self._text(), total=self.rows, show=self.show)
        self._bar = self._context.__enter__()
        self._bar.advance(self.done_rows)
        return self

    def __exit__(self, *exc) -> None:
        self._context.__exit__(*exc)
        if self.lines and exc[0] is None:
            self._line()

    def advance(self, rows: int) -> None:
        self.done_parts += 1
        self.done_rows += rows
        self._bar.advance(rows, description=self._text())
        if self.lines and time.monotonic() - self._last >= 1.0 and self.done_parts < self.parts:
            self._line()

    def _text(self) -> str:
        return f"predicting: {self.done_parts}/{self.parts} partitions"

    def _line(self) -> None:
        self._last = time.monotonic()
        total = f"/{self.rows:,}" if self.rows is not None else ""
        print(f"edgekit: {self.done_parts}/{self.parts} partitions, {self.done_rows:,}{total} rows", file=sys.stderr,
              flush=True)


def _plain_lines(show: bool | None) -> bool:
    """Plain lines where edgekit.console would show no bar: not a terminal, nothing forced."""
    if show is not None:
        return False
    forced = os.environ.get("EDGEKIT_PROGRESS")
    if forced is not None:
        return forced.strip().lower() == "lines"
    return not sys.stderr.isatty()
