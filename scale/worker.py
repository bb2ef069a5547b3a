"""What runs on a Dask worker: read a piece, score it with edgekit.runtime, write its part.

The model travels as a path and its sha256, never as a session (ONNX Runtime sessions do
not pickle); each worker thread loads it once, checks the hash and keeps it. Every failure
leaves the worker as a :class:`TaskFailure`, which pickles cleanly and turns back into the
edgekit error it stands for on the driver (edgekit errors with keyword arguments do not
survive pickling on their own).
"""

from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from edgekit.runtime import errors
from edgekit.runtime.errors import DataError, EdgekitError, IntegrityError, SchemaError
from edgekit.runtime.io import atomic_write
from edgekit.scale.plan import Piece, csv_first_row

PART_METADATA_KEY = b"edgekit.scale"


@dataclass(frozen=True)
class Job:
    """Everything a task needs besides its piece; small, so it ships with every task."""

    model: str
    sha256: str
    out: str
    run_id: str
    threads: int | None = 1
    backend: str | None = None
    verify: bool = True
    id_column: str | None = None
    passthrough: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()  # columns the manifest says the model does not take (target, ids)
    batch_size: int = 4096

    @property
    def copied(self) -> list[str]:
        return ([self.id_column] if self.id_column else []) + [c for c in self.passthrough if c != self.id_column]


class TaskFailure(Exception):
    """An edgekit error on its way from a worker to the driver."""

    def __init__(self, kind: str, message: str, hint: str | None = None, extra: str | None = None):
        super().__init__(kind, message, hint, extra)
        self.kind, self.message, self.hint, self.extra = kind, message, hint, extra

    @classmethod
    def of(cls, exc: EdgekitError, *, where: str = "") -> "TaskFailure":
        message = f"{where}{exc.message}"
        return cls(type(exc).__name__, message, exc.hint, getattr(exc, "extra", None))

    def rebuild(self) -> EdgekitError:
        kind = getattr(errors, self.kind, None)
        if not (isinstance(kind, type) and issubclass(kind, EdgekitError)):
            kind = errors.InferenceError
        if issubclass(kind, errors.MissingDependencyError):
            # Keep the type (exit code 2) but the worker's wording, which says where.
            error = errors.EdgekitError.__new__(kind)
            errors.EdgekitError.__init__(error, self.message, hint=self.hint)
            error.package, error.extra = None, self.extra
            return error
        return kind(self.message, hint=self.hint)

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


def batches(piece: Piece, size: int) -> Iterator:
    """The piece as pyarrow RecordBatches of at most ``size`` rows, streamed (a worker holds
    one batch, whatever the file's row-group size): Parquet columns as stored, CSV cells as
    text, as single-process ``edgekit predict`` reads them, so the runtime validates alike."""
    if piece.kind == "parquet":
        import pyarrow.parquet as pq

        # Column chunks read in 1 MiB buffers: memory stays flat even for a 2-million-row row
        # group (about 40 MB instead of 115 MB). One decoding thread: a worker runs one task
        # per core, as the backend does.
        source = pq.ParquetFile(piece.path, pre_buffer=False, buffer_size=1 << 20)
        yield from source.iter_batches(batch_size=size, row_groups=list(piece.row_groups), use_threads=False,
                                       use_pandas_metadata=False)
        return
    yield from _csv_batches(piece, size)


def _csv_batches(piece: Piece, size: int) -> Iterator:
    import csv
    import io

    import pyarrow as pa

    with open(piece.path, "rb") as handle:
        header_line = handle.readline()
        handle.seek(piece.start)
        body = handle.read(piece.end - piece.start)
    try:
        header = [h.strip() for h in next(csv.reader([header_line.decode("utf-8-sig")], delimiter=piece.delimiter))]
        reader = csv.reader(io.StringIO(body.decode("utf-8"), newline=""), delimiter=piece.delimiter)
    except UnicodeDecodeError as exc:
        raise DataError(f"{piece.label}: not UTF-8 text ({exc.reason})") from None
    rows: list[list[str]] = []
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                line = csv_first_row(piece) + 2 + reader.line_num - 1  # the header is line 1
                raise DataError(f"{piece.label}, line {line}: {len(row)} values for {len(header)} columns")
            rows.append(row)
            if len(rows) >= size:
                yield _text_batch(pa, header, rows)
                rows = []
    except csv.Error as exc:
        raise DataError(f"{piece.label}: {exc}") from None
    if rows:
        yield _text_batch(pa, header, rows)


def _text_batch(pa, header: list[str], rows: list[list[str]]):
    return pa.record_batch([pa.array([row[i] for row in rows], pa.string()) for i in range(len(header))], names=header)


def score_piece(piece: Piece, job: Job) -> dict:
    """Score one piece and write its part atomically; return the part's summary, or
    ``{"failure": TaskFailure}`` for an edgekit error: a user's bad file is handed back as a
    value, not raised for Dask to log as a crash."""
    try:
        return _score(piece, job)
    except TaskFailure as failure:
        return {"index": piece.index, "failure": failure}
    except EdgekitError as exc:
        return {"index": piece.index, "failure": TaskFailure.of(exc, where=_worker_prefix(exc))}
    except OSError as exc:
        failure = TaskFailure("DataError", f"{piece.label} -> {piece.part}: {_first_line(exc)}")
        return {"index": piece.index, "failure": failure}


def _score(piece: Piece, job: Job) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = cached_model(job.model, job.sha256, job.threads, job.backend, job.verify, threading.get_ident())
    meta = {"run": job.run_id, "model_sha256": job.sha256, "piece": piece.index, "key": piece.key,
            "source": piece.path}
    rows, writer = 0, None
    with atomic_write(Path(job.out) / piece.part, "wb") as handle:
        try:
            for batch in _checked(batches(piece, job.batch_size), piece):
                out = _scored_batch(pa, model, batch, piece, job, rows)
                if writer is None:
                    schema = out.schema.with_metadata({PART_METADATA_KEY: json.dumps(meta).encode()})
                    writer = pq.ParquetWriter(handle, schema)
                writer.write_batch(out)
                rows += batch.num_rows
            if writer is None:  # a piece without rows still gets its part: no gap in the run
                empty = _empty_batch(pa, model, job)
                writer = pq.ParquetWriter(handle, empty.schema.with_metadata({PART_METADATA_KEY: json.dumps(meta).encode()}))
                writer.write_batch(empty)
        finally:
            if writer is not None:
                writer.close()
        if piece.rows is not None and rows != piece.rows:  # raised inside: the part is not kept
            raise DataError(f"{piece.label}: read {rows} rows where its footer promises {piece.rows}")
    return {"index": piece.index, "part": piece.part, "rows": rows, "source": piece.path}


def _checked(stream: Iterator, piece: Piece) -> Iterator:
    """Reading errors of pyarrow and the csv module as edgekit errors naming the file."""
    try:
        yield from stream
    except EdgekitError:
        raise
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid/ArrowIOError derive from these
        raise DataError(f"{piece.label}: cannot read ({_first_line(exc)})") from None


def _scored_batch(pa, model, batch, piece: Piece, job: Job, offset: int):
    names = batch.schema.names
    copied = job.copied
    missing = [c for c in copied if c not in names]
    if missing:
        raise SchemaError(f"{piece.label} has no column(s) {missing}")
    columns = {n: batch.column(n).to_numpy(zero_copy_only=False) for n in names
               if n not in copied and n not in job.ignored}
    try:
        prediction = model.predict(columns)
    except SchemaError as exc:
        raise _locate(exc, piece, offset) from None
    outputs = prediction_columns(prediction)
    arrays = [batch.column(n) for n in copied] + [pa.array(v) for v in outputs.values()]
    return pa.record_batch(arrays, names=copied + list(outputs))


def _empty_batch(pa, model, job: Job):
    """The part of a piece without rows (a CSV range of blank lines): copied columns and
    typed output columns, no rows, so the parts still read as one table."""
    outputs = {"prediction": pa.float64()} if model.task == "regression" else {
        "label": pa.array(list(model.labels or ())).type, **{f"p_{k}": pa.float64() for k in model.labels or ()}}
    schema = pa.schema([(n, pa.string()) for n in job.copied] + list(outputs.items()))
    return pa.record_batch([pa.array([], f.type) for f in schema], schema=schema)


def prediction_columns(prediction) -> dict[str, np.ndarray]:
    """Output columns named as single-process ``edgekit predict`` names them."""
    if prediction.task == "regression":
        return {"prediction": np.asarray(prediction.values, dtype=np.float64)}
    columns = {"label": np.asarray(prediction.values.tolist())}
    for i, label in enumerate(prediction.labels or ()):
        columns[f"p_{label}"] = np.asarray(prediction.probabilities[:, i], dtype=np.float64)
    return columns


@functools.lru_cache(maxsize=8)
def cached_model(path: str, sha256: str, threads: int | None, backend: str | None, verify: bool, thread: int):
    """One loaded model per worker thread (a Model is not thread-safe), checked against the
    hash the driver computed, so every worker scores with the very same file."""
    from edgekit.runtime import load

    model = load(path, threads=threads, backend=backend, verify=verify)
    if model.tensor.sha256 != sha256:
        raise IntegrityError(f"{Path(path).name} has sha256 {model.tensor.sha256[:12]}… here, "
                             f"not {sha256[:12]}… as on the driver",
                             hint="every worker must see the same model file (a shared folder or identical copies)")
    return model


_ROW = re.compile(r"\brow (\d+)\b")


def _locate(exc: SchemaError, piece: Piece, start: int) -> TaskFailure:
    """The runtime names the row within its batch; name the file and the row in that file."""
    first = piece.first_row if piece.first_row is not None else csv_first_row(piece)
    message = _ROW.sub(lambda m: f"row {first + start + int(m.group(1))}", exc.message, count=1)
    return TaskFailure(type(exc).__name__, f"{piece.label}: {message}", exc.hint)


def _worker_prefix(exc: EdgekitError) -> str:
    if not isinstance(exc, (errors.MissingDependencyError, errors.ModelLoadError)):
        return ""
    try:
        from distributed import get_worker

        return f"on worker {get_worker().address}: "
    except (ImportError, ValueError):
        return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
