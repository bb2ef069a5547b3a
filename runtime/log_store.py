"""The prediction log's SQLite layout, shared by the writer and :func:`read_log`.

Tables (``SCHEMA_VERSION`` 1)::

    log_schema(version, created_at)
    models(id, model_id, schema, task, labels, first_seen)     -- one row per export
    predictions(seq, request_id, given, ts, model, features, prediction, probabilities)

``request_id`` is a generated uuid4 hex, or the caller's id (``given = 1``). Generated
ids are unique by construction; caller ids are checked by a partial unique index, so
the hot path does not pay for a random-key index (~10 µs/row once the log holds 100k+
rows). ``features`` is a JSON array in the schema order of ``models.schema`` (``null``
for a missing number, ``""`` for a missing string); ``prediction`` is a number
(regression) or the label (classification); ``probabilities`` a JSON array in
``models.labels`` order, rounded to 1e-6; ``ts`` unix seconds.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.runtime.errors import DataError
from edgekit.runtime.schema import Schema

SCHEMA_VERSION = 1
DEFAULT_BUSY_TIMEOUT = 5.0
BEGIN_RETRIES = 4

DDL = (
    "CREATE TABLE IF NOT EXISTS log_schema (version INTEGER NOT NULL, created_at REAL NOT NULL)",
    """CREATE TABLE IF NOT EXISTS models (
        id INTEGER PRIMARY KEY,
        model_id TEXT NOT NULL UNIQUE,
        schema TEXT NOT NULL,
        task TEXT,
        labels TEXT,
        first_seen REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS predictions (
        seq INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL,
        given INTEGER NOT NULL,
        ts REAL NOT NULL,
        model INTEGER NOT NULL REFERENCES models(id),
        features TEXT NOT NULL,
        prediction,
        probabilities TEXT)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS predictions_given_id ON predictions(request_id) WHERE given = 1",
)
INSERT = (
    "INSERT {verb} INTO predictions (request_id, given, ts, model, features, prediction, probabilities) "
    "VALUES (?, ?, ?, {key}, ?, ?, ?)"
)


def initialise(conn: sqlite3.Connection) -> None:
    """WAL, synchronous=NORMAL, tables and the schema version, in one transaction."""
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch the journal to WAL (got {mode!r})")
    conn.execute("PRAGMA synchronous=NORMAL")
    begin(conn)
    try:
        for statement in DDL:
            conn.execute(statement)
        row = conn.execute("SELECT max(version) FROM log_schema").fetchone()
        if row[0] is None:
            conn.execute("INSERT INTO log_schema (version, created_at) VALUES (?, ?)", (SCHEMA_VERSION, time.time()))
        elif row[0] > SCHEMA_VERSION:
            raise DataError(f"log schema version {row[0]} is newer than this edgekit writes ({SCHEMA_VERSION})")
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def begin(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE (take the write lock now), retrying past the busy timeout."""
    for attempt in range(BEGIN_RETRIES):
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or attempt == BEGIN_RETRIES - 1:
                raise
            time.sleep(0.05 * 2**attempt)


def begin_now(conn: sqlite3.Connection, busy_timeout: float) -> bool:
    """BEGIN IMMEDIATE without waiting: False when another connection holds the lock."""
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        conn.execute("BEGIN IMMEDIATE")
        return True
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            return False
        raise
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")


def is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def register_model(conn: sqlite3.Connection, model_row: list) -> int:
    model_id, schema, task, labels = model_row
    conn.execute(
        "INSERT INTO models (model_id, schema, task, labels, first_seen) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(model_id) DO UPDATE SET task = coalesce(models.task, excluded.task), "
        "labels = coalesce(models.labels, excluded.labels)",
        (model_id, schema, task, labels, time.time()),
    )
    return int(conn.execute("SELECT id FROM models WHERE model_id = ?", (model_id,)).fetchone()[0])


@dataclass(frozen=True)
class LogData:
    """Logged rows of one feature schema, in insertion order.

    ``columns`` are as the runtime validated them (float64 with NaN, or str with '');
    ``predictions`` are float64 (regression) or labels; ``probabilities`` ``[n, k]`` in
    ``labels`` order, or None.
    """

    schema: Schema
    task: str | None
    labels: tuple[Any, ...] | None
    request_ids: np.ndarray
    timestamps: np.ndarray
    model_ids: np.ndarray
    columns: dict[str, np.ndarray]
    predictions: np.ndarray
    probabilities: np.ndarray | None

    def __len__(self) -> int:
        return len(self.request_ids)


def log_models(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The models in a log with their row counts and first/last timestamps."""
    with _reader(path) as conn:
        rows = conn.execute(
            "SELECT m.model_id, m.task, count(p.seq), min(p.ts), max(p.ts) FROM models m "
            "LEFT JOIN predictions p ON p.model = m.id GROUP BY m.id ORDER BY m.id"
        ).fetchall()
    return [{"model_id": r[0], "task": r[1], "rows": r[2], "first": r[3], "last": r[4]} for r in rows]


def read_log(
    path: str | os.PathLike,
    *,
    model_id: str | None = None,
    since: float | None = None,
    until: float | None = None,
    last: int | None = None,
) -> LogData:
    """Read logged predictions (safe while writers are active: one consistent snapshot).

    ``model_id`` (or a unique prefix of at least 8 characters) selects one model;
    without it, every model in the log must share one feature schema. ``since`` /
    ``until`` are unix timestamps; ``last`` keeps the most recent rows."""
    with _reader(path) as conn:
        conn.execute("BEGIN")
        models = conn.execute("SELECT id, model_id, schema, task, labels FROM models ORDER BY id").fetchall()
        chosen = _choose_models(models, model_id, path)
        where, params = [f"model IN ({','.join(str(m[0]) for m in chosen)})"], []
        if since is not None:
            where.append("ts >= ?")
            params.append(float(since))
        if until is not None:
            where.append("ts <= ?")
            params.append(float(until))
        query = (
            "SELECT p.request_id, p.ts, p.model, p.features, p.prediction, p.probabilities FROM predictions p "
            f"WHERE {' AND '.join(where)} ORDER BY p.seq"
        )
        if last is not None:
            query += f" DESC LIMIT {max(int(last), 0)}"
        rows = conn.execute(query, params).fetchall()
        conn.execute("COMMIT")
    if last is not None:
        rows.reverse()
    return _decode(rows, chosen, path)


class _reader:
    """A read-only connection. Where the WAL index (-shm) cannot be created (a read-only
    folder), it falls back to ``immutable=1``, which sees the checkpointed rows only: all
    of them once the writers have closed."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __enter__(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such prediction log")
        uri = self.path.resolve().as_uri()
        last: Exception | None = None
        for suffix in ("?mode=ro", "?mode=ro&immutable=1"):
            conn = None
            try:
                conn = sqlite3.connect(uri + suffix, uri=True, timeout=DEFAULT_BUSY_TIMEOUT, isolation_level=None)
                version = conn.execute("SELECT max(version) FROM log_schema").fetchone()[0]
            except sqlite3.Error as exc:
                if conn is not None:
                    conn.close()
                if "no such table" in str(exc):
                    raise DataError(f"{self.path}: not an edgekit prediction log (no log_schema table)") from exc
                if not isinstance(exc, sqlite3.OperationalError):
                    raise DataError(f"{self.path}: not a readable SQLite prediction log ({exc})") from exc
                last = exc
                continue
            if version is None or version > SCHEMA_VERSION:
                conn.close()
                raise DataError(
                    f"{self.path}: log schema version {version} is not one this edgekit reads ({SCHEMA_VERSION})",
                    hint="upgrade edgekit",
                )
            self.conn = conn
            return conn
        raise DataError(f"{self.path}: cannot open the prediction log ({last})")

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def _choose_models(models: list[tuple], model_id: str | None, path) -> list[tuple]:
    if not models:
        raise DataError(f"{path}: the prediction log holds no models yet")
    if model_id is not None:
        chosen = [m for m in models if m[1] == model_id or (len(model_id) >= 8 and m[1].startswith(model_id))]
        if len(chosen) != 1:
            known = ", ".join(m[1][:12] for m in models)
            what = "matches several models" if chosen else "is not in the log"
            raise DataError(f"{path}: model id {model_id!r} {what}", hint=f"models in the log: {known}")
        return chosen
    names = {tuple(f["name"] for f in json.loads(m[2])["features"]) for m in models}
    if len(names) > 1:
        known = ", ".join(m[1][:12] for m in models)
        raise DataError(f"{path}: the log holds models with different features", hint=f"choose one model id of {known}")
    return models


def _decode(rows: list[tuple], models: list[tuple], path) -> LogData:
    first = models[-1]
    schema = Schema.from_dict(json.loads(first[2]))
    tasks = {m[3] for m in models if m[3]}
    task = tasks.pop() if len(tasks) == 1 else None
    labels = tuple(json.loads(first[4])) if first[4] else None
    by_key = {m[0]: m[1] for m in models}
    n = len(rows)
    try:
        features = json.loads("[" + ",".join(r[3] for r in rows) + "]") if n else []
    except ValueError as exc:
        raise DataError(f"{path}: a logged feature row is not valid JSON ({exc})") from exc
    columns: dict[str, np.ndarray] = {}
    for j, feature in enumerate(schema):
        values = [r[j] for r in features]
        if feature.is_string:
            columns[feature.name] = np.asarray(["" if v is None else str(v) for v in values], dtype=object)
        else:
            columns[feature.name] = np.asarray(values, dtype=np.float64).reshape(n)
    predicted = [r[4] for r in rows]
    if task == "regression":
        predictions = np.asarray(predicted, dtype=np.float64).reshape(n)
    else:
        predictions = np.empty(n, dtype=object)
        predictions[:] = predicted
    probabilities = None
    if n and all(r[5] is not None for r in rows):
        probabilities = np.asarray(json.loads("[" + ",".join(r[5] for r in rows) + "]"), dtype=np.float64)
    return LogData(
        schema=schema,
        task=task,
        labels=labels,
        request_ids=np.asarray([r[0] for r in rows], dtype=object).reshape(n),
        timestamps=np.asarray([r[1] for r in rows], dtype=np.float64).reshape(n),
        model_ids=np.asarray([by_key[r[2]] for r in rows], dtype=object).reshape(n),
        columns=columns,
        predictions=predictions,
        probabilities=probabilities,
    )

