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


def read_piece(piece: Piece):
    """The piece as a pandas DataFrame: Parquet columns as stored, CSV cells as text (as
    single-process ``edgekit predict`` reads them, so the runtime validates the same way).

    A piece that cannot be read gives a :class:`TaskFailure` instead, handed on as a value:
    a user's bad file is not a crash for Dask to log and retry."""
    try:
        if piece.kind == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(piece.path).read_row_groups(list(piece.row_groups)).to_pandas()
        return _read_csv(piece)
    except EdgekitError as exc:
        return TaskFailure.of(exc)
    except (OSError, ValueError) as exc:  # pyarrow and pandas parse errors derive from these
        return TaskFailure("DataError", f"{piece.label}: cannot read ({_first_line(exc)})")


def _read_csv(piece: Piece):
    import io

    import pandas as pd

    with open(piece.path, "rb") as handle:
        header = handle.readline()
        handle.seek(piece.start)
        body = handle.read(piece.end - piece.start)
    try:
        return pd.read_csv(io.BytesIO(header + body), sep=piece.delimiter, dtype=str, keep_default_na=False,
                           na_filter=False, encoding="utf-8-sig", skipinitialspace=False)
    except UnicodeDecodeError as exc:
        raise DataError(f"{piece.label}: not UTF-8 text ({exc.reason})") from None
    except pd.errors.ParserError as exc:
        detail = _first_line(exc).replace("Error tokenizing data. C error: ", "")
        line = re.search(r" in line (\d+)", detail)
        if line is None:
            raise DataError(f"{piece.label}: {detail}") from None
        # pandas counts the lines of this slice, the header being line 1; name the file's line.
        at = csv_first_row(piece) + int(line.group(1))
        raise DataError(f"{piece.label}, line {at}: {detail.replace(line.group(0), '')}") from None


def score_piece(frame, piece: Piece, job: Job) -> dict:
    """Score one piece and write its part atomically; return the part's summary, or
    ``{"failure": TaskFailure}`` for an edgekit error (the driver raises it)."""
    if isinstance(frame, TaskFailure):
        return {"index": piece.index, "failure": frame}
    try:
        return _score(frame, piece, job)
    except TaskFailure as failure:
        return {"index": piece.index, "failure": failure}
    except EdgekitError as exc:
        return {"index": piece.index, "failure": TaskFailure.of(exc, where=_worker_prefix(exc))}
    except OSError as exc:
        failure = TaskFailure("DataError", f"cannot write {piece.part} in {job.out}: {exc}")
        return {"index": piece.index, "failure": failure}


def _score(frame, piece: Piece, job: Job) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = cached_model(job.model, job.sha256, job.threads, job.backend, job.verify, threading.get_ident())
    if piece.rows is not None and len(frame) != piece.rows:
        raise DataError(f"{piece.label}: read {len(frame)} rows where its footer promises {piece.rows}")
    copied = job.copied
    missing = [c for c in copied if c not in frame.columns]
    if missing:
        raise SchemaError(f"{piece.label} has no column(s) {missing}")
    features = [c for c in frame.columns if c not in copied and c not in job.ignored]
    outputs: dict[str, list[np.ndarray]] = {name: [empty] for name, empty in empty_outputs(model).items()}
    for start in range(0, len(frame), job.batch_size):
        chunk = frame.iloc[start:start + job.batch_size]
        columns = {name: chunk[name].to_numpy() for name in features}
        try:
            prediction = model.predict(columns)
        except SchemaError as exc:
            raise _locate(exc, piece, start) from None
        for name, values in prediction_columns(prediction).items():
            outputs[name].append(values)
    arrays = {name: pa.Array.from_pandas(frame[name]) for name in copied}
    arrays.update({name: pa.array(np.concatenate(parts)) for name, parts in outputs.items()})
    table = pa.table(arrays)
    meta = {"run": job.run_id, "model_sha256": job.sha256, "piece": piece.index, "key": piece.key,
            "source": piece.path, "rows": len(frame)}
    table = table.replace_schema_metadata({PART_METADATA_KEY: json.dumps(meta).encode()})
    with atomic_write(Path(job.out) / piece.part, "wb") as handle:
        pq.write_table(table, handle)
    return {"index": piece.index, "part": piece.part, "rows": len(frame), "source": piece.path}


def empty_outputs(model) -> dict[str, np.ndarray]:
    """Typed empty output columns, so a part without rows has the same schema as the rest."""
    if model.task == "regression":
        return {"prediction": np.empty(0, np.float64)}
    labels = np.asarray(list(model.labels or ()))
    return {"label": labels[:0], **{f"p_{label}": np.empty(0, np.float64) for label in model.labels or ()}}


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
