"""The prediction log: every prediction's inputs and outputs in one SQLite file.

Hot path: :meth:`PredictionLog.log` encodes a batch (one compact JSON array per row, in
schema order) and appends it to an in-memory buffer. A full buffer (``flush_rows``) is
inserted with one ``executemany`` by the calling thread when that needs no waiting, else
by a background thread, which also writes rows older than ``flush_seconds`` and retries
after failures; :meth:`~PredictionLog.close` (also run at exit and when the log is
garbage collected) writes the rest.

The file is safe for several writer processes at once: WAL journal,
``synchronous=NORMAL`` (a commit survives a killed process, not a power cut), a busy
timeout plus retries, and every batch in one ``BEGIN IMMEDIATE`` transaction, so a
killed writer leaves whole batches only. Readers (:func:`read_log`) see a consistent
snapshot while writers are active.

A log that cannot be written (read-only or missing folder, full disk, corrupt file)
never costs a prediction: the first failure emits one :class:`PredictionLogWarning`,
rows stay buffered (at most ``max_pending``, oldest dropped first) and writing is
retried with backoff.

The file layout is described in :mod:`edgekit.runtime.log_store`.

Only the standard library and numpy: this module runs on devices.
"""

from __future__ import annotations

import json
import os
import time
import weakref
from itertools import repeat
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from edgekit.runtime.errors import ConfigError, SchemaError
from edgekit.runtime.log_store import DEFAULT_BUSY_TIMEOUT, SCHEMA_VERSION, LogData, log_models, read_log
from edgekit.runtime.log_writer import LogWriter, PredictionLogWarning
from edgekit.runtime.schema import Schema

__all__ = [
    "PredictionLog",
    "PredictionLogWarning",
    "read_log",
    "log_models",
    "LogData",
    "new_request_ids",
    "SCHEMA_VERSION",
]

DEFAULT_FLUSH_ROWS = 512
DEFAULT_FLUSH_SECONDS = 1.0
DEFAULT_MAX_PENDING = 50_000
MAX_REQUEST_ID_LENGTH = 200

_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=True).encode
_REPR = float.__repr__


def new_request_ids(n: int) -> list[str]:
    """``n`` random uuid4 hex strings (version and variant bits set), cheaply in bulk."""
    raw = bytearray(os.urandom(16 * n))
    if n == 1:
        raw[6] = raw[6] & 0x0F | 0x40
        raw[8] = raw[8] & 0x3F | 0x80
        return [raw.hex()]
    grid = np.frombuffer(raw, dtype=np.uint8).reshape(n, 16)
    grid[:, 6] = grid[:, 6] & 0x0F | 0x40
    grid[:, 8] = grid[:, 8] & 0x3F | 0x80
    text = raw.hex()
    return [text[i : i + 32] for i in range(0, 32 * n, 32)]


def _check_request_ids(request_ids: Sequence[Any], n: int) -> list[str]:
    if isinstance(request_ids, (str, bytes)):
        request_ids = [request_ids]
    ids = [v if type(v) is str else _id_text(v) for v in request_ids]
    if len(ids) != n:
        raise SchemaError(f"got {len(ids)} request id(s) for {n} row(s); give one per row")
    if len(set(ids)) != n:
        seen: set[str] = set()
        duplicate = next(v for v in ids if v in seen or seen.add(v))
        raise SchemaError(f"request id {duplicate!r} appears more than once; each row needs its own id")
    if not all(ids) or max(map(len, ids)) > MAX_REQUEST_ID_LENGTH:
        raise SchemaError(f"request ids must be non-empty strings of at most {MAX_REQUEST_ID_LENGTH} characters")
    return ids


def _id_text(value: Any) -> str:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    raise SchemaError(f"request id {value!r} is a {type(value).__name__}; use strings (or integers)")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _json_numeric_rows(matrix: np.ndarray) -> list[str]:
    """One compact JSON array per row of a float matrix; NaN -> null. One encoder call."""
    text = _ENCODE(matrix.tolist())
    if "NaN" in text:
        text = text.replace("NaN", "null")
    return ["[" + part + "]" for part in text[2:-2].split("],[")]


class PredictionLog:
    """Append-only SQLite log of one model's predictions (see the module docstring).

    ``model_id`` names the export (its sha256); ``schema`` is its feature schema. Not
    needed for correctness but cheap to tune: ``flush_rows`` / ``flush_seconds`` bound
    how much sits in memory and for how long; ``max_pending`` bounds memory while the
    file cannot be written; ``busy_timeout`` is how long one write waits for other
    writers (seconds) before retrying.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        model_id: str,
        schema: Schema,
        task: str | None = None,
        labels: Sequence[Any] | None = None,
        flush_rows: int = DEFAULT_FLUSH_ROWS,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        max_pending: int = DEFAULT_MAX_PENDING,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ):
        if not isinstance(model_id, str) or not model_id:
            raise ConfigError(f"model_id must be a non-empty string, got {model_id!r}")
        if not isinstance(schema, Schema):
            raise ConfigError(f"schema must be an edgekit Schema, got {type(schema).__name__}")
        if flush_rows < 1 or max_pending < flush_rows:
            raise ConfigError(f"need 1 <= flush_rows <= max_pending; got {flush_rows} and {max_pending}")
        if flush_seconds <= 0 or busy_timeout < 0:
            raise ConfigError(f"flush_seconds must be > 0 and busy_timeout >= 0; got {flush_seconds}, {busy_timeout}")
        self.path = Path(path)
        self.model_id = model_id
        self.schema = schema
        self._names = schema.names
        self._numeric_only = schema.all_numeric
        self._string = [f.is_string for f in schema]
        self._task_known = task is not None
        self._writer = LogWriter(
            self.path,
            model_row=[model_id, json.dumps(schema.to_dict(), default=_plain), task,
                       json.dumps([_plain(v) for v in labels]) if labels is not None else None],
            flush_rows=int(flush_rows),
            flush_seconds=float(flush_seconds),
            max_pending=int(max_pending),
            busy_timeout=float(busy_timeout),
        )
        self._finalizer = weakref.finalize(self, self._writer.close)
        self._writer.open()

    # -- hot path ----------------------------------------------------------------------
    def log(self, columns: Mapping[str, np.ndarray], prediction: Any, request_ids: Sequence[Any] | None = None) -> list[str]:
        """Buffer one batch; return its request ids (``request_ids``, or new uuid4 hex).

        ``columns`` are the validated inputs (``edgekit.runtime.inputs.to_columns``),
        ``prediction`` a :class:`edgekit.runtime.Prediction` of the same rows. Raises
        only for bad ``request_ids`` (wrong count, duplicates, non-strings)."""
        n = len(prediction.values)
        if request_ids is None:
            ids, given = new_request_ids(n), 0
        else:
            ids, given = _check_request_ids(request_ids, n), 1
        try:
            rows = self._encode(columns, prediction, ids, given, n)
        except Exception as exc:  # a logging bug must never cost the caller a prediction
            self._writer.fail(exc, "cannot encode a prediction", dropped=n)
            return ids
        if not self._finalizer.alive:  # logging again after close()
            self._finalizer = weakref.finalize(self, self._writer.close)
        self._writer.append(rows)
        return ids

    def _encode(self, columns, prediction, ids: list[str], given: int, n: int) -> list[tuple]:
        if not self._task_known:
            labels = getattr(prediction, "labels", None)
            self._writer.model_info(prediction.task, json.dumps([_plain(v) for v in labels]) if labels else None)
            self._task_known = True
        cols = [columns[name] for name in self._names]
        values = prediction.values
        probabilities = prediction.probabilities
        if n == 1 and self._numeric_only:  # the common on-device call, kept lean
            # float.__repr__ is JSON for finite floats (inputs reject inf); NaN -> null
            text = ",".join([_REPR(c.item()) for c in cols])
            features = "[" + (text.replace("nan", "null") if "n" in text else text) + "]"
            probs = None if probabilities is None else _json_numeric_rows(np.round(probabilities, 6))[0]
            return [(ids[0], given, time.time(), features, _plain(values[0]), probs)]
        predicted = values.tolist() if prediction.task == "regression" else [_plain(v) for v in values.tolist()]
        probs = repeat(None, n) if probabilities is None else _json_numeric_rows(np.round(probabilities, 6))
        return list(zip(ids, repeat(given, n), repeat(time.time(), n), self._features(cols, n), predicted, probs))

    def _features(self, cols: list[np.ndarray], n: int) -> list[str]:
        if self._numeric_only:
            return _json_numeric_rows(np.column_stack(cols))
        lists = []
        for col, is_string in zip(cols, self._string):
            values = col.tolist()
            if not is_string and np.isnan(col).any():
                values = [None if v != v else v for v in values]
            lists.append(values)
        return list(map(_ENCODE, zip(*lists)))

    # -- control -----------------------------------------------------------------------
    def flush(self) -> bool:
        """Write buffered rows now; True when nothing is left pending."""
        return self._writer.flush()

    def close(self) -> None:
        """Stop the background writer and write what is buffered (warns, never raises)."""
        self._finalizer()

    @property
    def stats(self) -> dict[str, Any]:
        """Rows written, pending and dropped by this process, and the last write error."""
        return self._writer.stats()

    def __enter__(self) -> "PredictionLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PredictionLog({str(self.path)!r}, model_id={self.model_id[:12]!r})"
