"""The buffer, SQLite connection and background flusher behind a PredictionLog."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import DataError
from edgekit.runtime.log_store import BEGIN_RETRIES, INSERT, begin, begin_now, initialise, register_model, rollback

_MAX_BACKOFF = 60.0
_IDLE_WAIT = 5.0


class PredictionLogWarning(RuntimeWarning):
    """The prediction log cannot be written; predictions carry on without it."""


class LogWriter:
    """Buffer, SQLite connection and background flusher of one PredictionLog.

    Separate from the facade so the flusher thread never keeps the facade alive: when
    the facade is collected (or at exit) its finalizer closes the writer, which flushes.
    """

    def __init__(self, path: Path, *, model_row: list, flush_rows: int, flush_seconds: float, max_pending: int, busy_timeout: float):
        self.path = path
        self.model_row = model_row  # [model_id, schema json, task, labels json]
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending
        self.busy_timeout = busy_timeout
        self._reset()
        _WRITERS.add(self)

    def _reset(self) -> None:
        """Fresh state; also what a forked child starts from (the parent flushes its own rows)."""
        self.lock = threading.Lock()  # guards pending / oldest / counters
        self.write_lock = threading.Lock()  # serialises writes: flusher, close, backpressure
        self.wake = threading.Event()
        self.pending: list[tuple] = []
        self.oldest = 0.0
        self.thread: threading.Thread | None = None
        self.stop: threading.Event | None = None
        self.conn: sqlite3.Connection | None = None
        self.key: int | None = None
        self.healthy = True
        self.backoff = 0.0
        self.retry_at = 0.0
        self.warned = False
        self.warned_duplicates = False
        self.written = self.dropped = self.duplicates = 0
        self.last_error: str | None = None

    # -- buffer --------------------------------------------------------------------------
    def append(self, rows: list[tuple]) -> None:
        with self.lock:
            if not self.pending:
                self.oldest = time.monotonic()
            self.pending += rows
            n = len(self.pending)
            backpressure = n > self.max_pending and self.healthy
            if n > self.max_pending and not self.healthy:
                self._trim()
        if self.thread is None:
            self._start()
        if backpressure:
            self.flush()  # the flusher cannot keep up with a healthy file: slow the caller
        elif n >= self.flush_rows and not (self.healthy and self._flush_now()):
            self.wake.set()


    def _flush_now(self) -> bool:
        """Write a full buffer on the caller's thread when that costs no waiting: no flush
        is running here and no other process holds the file's write lock. Cheaper than
        handing the rows to the flusher thread, which would contend for the GIL row by
        row. False: the flusher takes over (and may wait)."""
        if not self.write_lock.acquire(blocking=False):
            return False
        try:
            if self.conn is None:
                return False
            with self.lock:
                rows, self.pending = self.pending, []
            written = self._write(rows, force=False, wait=False) if rows else True
            if written is None or written is False:
                with self.lock:
                    self.pending[:0] = rows
                    self._trim()
            return written is not None
        finally:
            self.write_lock.release()

    def _trim(self) -> None:
        excess = len(self.pending) - self.max_pending
        if excess > 0:
            del self.pending[:excess]
            self.dropped += excess

    def model_info(self, task: str, labels: str | None) -> None:
        with self.lock:
            if self.model_row[2] is None:
                self.model_row[2] = task
                self.model_row[3] = labels
                self.key = None  # re-register so the models row gets them

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"written": self.written, "pending": len(self.pending), "dropped": self.dropped,
                    "duplicates_dropped": self.duplicates, "last_error": self.last_error}

    # -- background flusher --------------------------------------------------------------
    def _start(self) -> None:
        with self.lock:
            if self.thread is not None:
                return
            self.stop = threading.Event()
            self.thread = threading.Thread(
                target=_flusher, args=(self, self.stop), name=f"edgekit-log-{self.path.name}", daemon=True
            )
        self.thread.start()

    def next_wait(self) -> float:
        now = time.monotonic()
        with self.lock:
            if not self.pending:
                return _IDLE_WAIT
            due = self.oldest + self.flush_seconds
        if not self.healthy:
            due = max(due, self.retry_at)
        return min(max(due - now, 0.0), _IDLE_WAIT)

    def due(self) -> bool:
        with self.lock:
            if not self.pending:
                return False
            full = len(self.pending) >= self.flush_rows
            old = time.monotonic() - self.oldest >= self.flush_seconds
        return (full or old) and (self.healthy or time.monotonic() >= self.retry_at)

    def close(self) -> None:
        thread, stop = self.thread, self.stop
        if stop is not None:
            stop.set()
            self.wake.set()
        if thread is not None and thread is threading.current_thread():
            # The garbage collector ran the facade's finalizer inside the flusher, maybe
            # while it holds write_lock: only signal; the flusher flushes on its way out.
            return
        if thread is not None:
            thread.join(timeout=self.busy_timeout * BEGIN_RETRIES + 5)
        self.thread = self.stop = None
        try:
            self.flush(force=True)
        finally:
            with self.write_lock:
                self._disconnect()

    # -- writing -------------------------------------------------------------------------
    def flush(self, *, force: bool = False) -> bool:
        with self.write_lock:
            with self.lock:
                rows, self.pending = self.pending, []
            if not rows:
                return True
            if self._write(rows, force=force, wait=True):
                return True
            with self.lock:
                self.pending[:0] = rows
                self._trim()
            return False

    def open(self) -> None:
        with self.write_lock:
            self._connection(force=True)

    def _connection(self, *, force: bool = False) -> sqlite3.Connection | None:
        if self.conn is not None:
            return self.conn
        if not force and time.monotonic() < self.retry_at:
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path), timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            try:
                initialise(conn)
            except BaseException:
                conn.close()
                raise
        except (sqlite3.Error, OSError, DataError) as exc:
            self.fail(exc, "cannot open it")
            return None
        self.conn, self.key = conn, None
        return conn

    def _write(self, rows: list[tuple], *, force: bool, wait: bool) -> bool | None:
        """Insert ``rows`` in one transaction: True when written, False on a failure,
        None when ``wait`` is False and another writer holds the lock."""
        conn = self._connection(force=force)
        if conn is None:
            return False
        try:
            if wait:
                begin(conn)
            elif not begin_now(conn, self.busy_timeout):
                return None
            try:
                if self.key is None:
                    self.key = register_model(conn, self.model_row)
                try:
                    conn.executemany(INSERT.format(verb="", key=self.key), rows)
                    kept = len(rows)
                except sqlite3.IntegrityError:
                    # A caller reused a request id: keep every other row of the batch.
                    conn.execute("ROLLBACK")
                    begin(conn)
                    kept = conn.executemany(INSERT.format(verb="OR IGNORE", key=self.key), rows).rowcount
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise
        except sqlite3.Error as exc:
            self._disconnect()
            self.fail(exc, "cannot write to it")
            return False
        with self.lock:
            self.written += kept
            self.duplicates += len(rows) - kept
            self.healthy, self.backoff = True, 0.0
        if kept < len(rows) and not self.warned_duplicates:
            self.warned_duplicates = True
            warnings.warn(
                f"prediction log {self.path}: dropped {len(rows) - kept} row(s) whose caller-given request id "
                "was already logged; request ids must be unique",
                PredictionLogWarning,
                stacklevel=2,
            )
        return True

    def _disconnect(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except sqlite3.Error:
                pass
            self.conn, self.key = None, None

    def fail(self, exc: BaseException, what: str, *, dropped: int = 0) -> None:
        """Remember a failure and warn the first time only. A write failure backs off;
        ``dropped`` rows (that could not even be encoded) leave the file's health alone."""
        with self.lock:
            if dropped:
                self.dropped += dropped
            else:
                self.healthy = False
                self.backoff = min(max(self.backoff * 2, self.flush_seconds), _MAX_BACKOFF)
                self.retry_at = time.monotonic() + self.backoff
            self.last_error = f"{type(exc).__name__}: {exc}"
            first, self.warned = not self.warned, True
        if first:
            warnings.warn(
                f"prediction log {self.path}: {what} ({self.last_error}); predictions continue, "
                f"up to {self.max_pending} rows stay buffered (older ones are dropped) while writing is retried",
                PredictionLogWarning,
                stacklevel=3,
            )

    def after_fork(self) -> None:
        if self.conn is not None:
            _INHERITED.append(self.conn)  # never close the parent's connection in the child
        self._reset()


def _flusher(writer: LogWriter, stop: threading.Event) -> None:
    while not stop.is_set():
        writer.wake.wait(writer.next_wait())
        writer.wake.clear()
        if stop.is_set():
            break
        if writer.due():
            writer.flush()
    if writer.thread is threading.current_thread():  # close() ran in this thread (see LogWriter.close)
        writer.thread = writer.stop = None
        writer.flush(force=True)
        with writer.write_lock:
            writer._disconnect()


_WRITERS: "weakref.WeakSet[LogWriter]" = weakref.WeakSet()
_INHERITED: list[sqlite3.Connection] = []


def _after_fork_in_child() -> None:
    for writer in list(_WRITERS):
        writer.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
