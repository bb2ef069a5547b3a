"""The model registry: versioned bundle copies, their lineage and metrics, one production.

Layout::

    ROOT/registry.db          SQLite (WAL): registry_schema, versions, history
    ROOT/versions/v0001/      a complete copy of each registered bundle

Every change is one ``BEGIN IMMEDIATE`` transaction, so concurrent processes serialise
and a killed process leaves the previous state. A bundle is copied into a temp folder
and renamed into place inside the transaction that records it: a crash can leave an
orphan folder (never a row without its folder); the next registration removes leftover
temp folders and replaces an orphan that holds its id. A partial unique index allows at most one ``production`` version;
``promote`` and ``rollback`` swap it atomically and append to ``history``.

Stages: ``staging`` (registered), ``production``, ``archived`` (was production).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from edgekit.runtime.errors import EdgekitError
from edgekit.runtime.io import atomic_directory

SCHEMA_VERSION = 1
DB_NAME = "registry.db"
VERSIONS_DIR = "versions"
STAGES = ("staging", "production", "archived")
CARD_FILE = "model_card.json"
BUSY_TIMEOUT = 30.0

_DDL = (
    "CREATE TABLE IF NOT EXISTS registry_schema (version INTEGER NOT NULL, created_at TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS versions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL,
        stage TEXT NOT NULL DEFAULT 'staging' CHECK (stage IN ('staging', 'production', 'archived')),
        parent INTEGER REFERENCES versions(id),
        created_at TEXT NOT NULL,
        task TEXT,
        target TEXT,
        model TEXT,
        data_sha256 TEXT,
        new_data_sha256 TEXT,
        metrics TEXT NOT NULL,
        bundle_sha256 TEXT NOT NULL,
        source TEXT,
        notes TEXT)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS versions_one_production ON versions(stage) WHERE stage = 'production'",
    """CREATE TABLE IF NOT EXISTS history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('register', 'promote', 'rollback')),
        version INTEGER NOT NULL REFERENCES versions(id),
        previous INTEGER REFERENCES versions(id),
        reason TEXT)""",
)
_COLUMNS = ("id", "path", "stage", "parent", "created_at", "task", "target", "model", "data_sha256",
            "new_data_sha256", "metrics", "bundle_sha256", "source", "notes")


class RegistryError(EdgekitError, ValueError):
    """A registry operation that cannot be done: unknown version, nothing to roll back to."""

    exit_code = 2


@dataclass(frozen=True)
class Version:
    id: int
    path: Path
    stage: str
    parent: int | None
    created_at: str
    task: str | None
    target: str | None
    model: str | None
    data_sha256: str | None
    new_data_sha256: str | None
    metrics: dict[str, Any]
    bundle_sha256: str
    source: str | None
    notes: str | None

    @property
    def name(self) -> str:
        return f"v{self.id}"

    @property
    def is_production(self) -> bool:
        return self.stage == "production"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["name"] = self.name
        return data


@dataclass(frozen=True)
class Event:
    seq: int
    at: str
    action: str
    version: int
    previous: int | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bundle_fingerprint(folder: str | os.PathLike) -> str:
    """sha256 over every file's relative path and content, in sorted order."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class Registry:
    """A registry rooted at ``root`` (created on first use unless ``create=False``)."""

    def __init__(self, root: str | os.PathLike, *, create: bool = True):
        self.root = Path(root)
        self.db_path = self.root / DB_NAME
        if not self.db_path.is_file():
            if not create:
                raise RegistryError(f"{self.root}: no model registry here", hint="register a bundle first")
            (self.root / VERSIONS_DIR).mkdir(parents=True, exist_ok=True)
        with self._connection() as conn:
            has_schema = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'registry_schema'").fetchone()
            version = conn.execute("SELECT max(version) FROM registry_schema").fetchone()[0] if has_schema else None
        if version is None:
            with self._transaction() as conn:  # a new registry: create the tables once
                for statement in _DDL:
                    conn.execute(statement)
                if conn.execute("SELECT max(version) FROM registry_schema").fetchone()[0] is None:
                    conn.execute("INSERT INTO registry_schema VALUES (?, ?)", (SCHEMA_VERSION, _now()))
        elif version > SCHEMA_VERSION:
            raise RegistryError(f"{self.root}: registry schema {version} is newer than this edgekit ({SCHEMA_VERSION})",
                                hint="upgrade edgekit")

    # -- reading -------------------------------------------------------------------------
    def list(self) -> list[Version]:
        with self._connection() as conn:
            return [self._version(r) for r in conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM versions ORDER BY id")]

    def show(self, version: Any) -> Version:
        with self._connection() as conn:
            return self._get(conn, self._id(conn, version))

    def production(self) -> Version | None:
        with self._connection() as conn:
            row = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM versions WHERE stage = 'production'").fetchone()
            return self._version(row) if row else None

    def history(self, version: Any = None) -> list[Event]:
        with self._connection() as conn:
            if version is None:
                rows = conn.execute("SELECT * FROM history ORDER BY seq").fetchall()
            else:
                rows = conn.execute("SELECT * FROM history WHERE version = ? OR previous = ? ORDER BY seq",
                                    (self._id(conn, version),) * 2).fetchall()
        return [Event(*r) for r in rows]

    def lineage(self, version: Any) -> list[Version]:
        """The version, its parent, the parent's parent, ... (oldest last)."""
        chain = [self.show(version)]
        while chain[-1].parent is not None and len(chain) < 10_000:
            chain.append(self.show(chain[-1].parent))
        return chain

    def verify(self, version: Any) -> bool:
        """Whether the version's folder still matches the fingerprint recorded at registration."""
        v = self.show(version)
        return v.path.is_dir() and bundle_fingerprint(v.path) == v.bundle_sha256

    # -- changes -------------------------------------------------------------------------
    def register(
        self,
        bundle_path: str | os.PathLike,
        *,
        parent: Any = None,
        metrics: dict[str, Any] | None = None,
        notes: str | None = None,
        new_data_sha256: str | None = None,
        promote: bool | None = None,
    ) -> Version:
        """Copy a bundle into the registry and record it.

        Recorded metrics: ``{"metric": card's selection metric, "test": card.test_metrics,
        "holdout": metrics}`` (``metrics``, e.g. a retrain's holdout scores, when given); ``new_data_sha256`` fingerprints the data a retrain added. ``promote``:
        True makes it production, None (default) does so only when nothing is yet."""
        source = Path(bundle_path)
        card = _read_card(source)
        fingerprint = bundle_fingerprint(source)
        recorded = {"metric": (card.get("metric") or {}).get("name"), "test": card.get("test_metrics") or {}}
        if metrics:
            recorded["holdout"] = metrics
        with self._transaction() as conn:
            self._remove_leftovers()
            parent_id = self._id(conn, parent) if parent is not None else None
            cursor = conn.execute(
                "INSERT INTO versions (path, parent, created_at, task, target, model, data_sha256, new_data_sha256, "
                "metrics, bundle_sha256, source, notes) VALUES ('', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (parent_id, _now(), card.get("task"), card.get("target"), (card.get("winner") or {}).get("name"),
                 (card.get("data") or {}).get("sha256"), new_data_sha256, json.dumps(recorded, default=str),
                 fingerprint, str(source.resolve()), notes),
            )
            version_id = int(cursor.lastrowid)
            relative = f"{VERSIONS_DIR}/v{version_id:04d}"
            conn.execute("UPDATE versions SET path = ? WHERE id = ?", (relative, version_id))
            # replace=True: a folder under this id is an orphan of a registration that died
            # before its commit (the id is only reused because that row never existed).
            with atomic_directory(self.root / relative, replace=True) as tmp:
                shutil.copytree(source, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*.tmp", ".*.old"))
                if bundle_fingerprint(tmp) != fingerprint:
                    raise RegistryError(f"{source}: the bundle changed while it was being copied; register it again")
            conn.execute("INSERT INTO history (at, action, version, reason) VALUES (?, 'register', ?, ?)",
                         (_now(), version_id, notes))
            current = self._production_id(conn)
            if promote or (promote is None and current is None):
                self._swap(conn, version_id, current, "promote", "first version" if current is None and promote is None else None)
            return self._get(conn, version_id)

    def promote(self, version: Any, *, reason: str | None = None) -> Version:
        """Make ``version`` the production version (the current one is archived)."""
        with self._transaction() as conn:
            version_id = self._id(conn, version)
            current = self._production_id(conn)
            if current != version_id:
                self._require_folder(conn, version_id)
                self._swap(conn, version_id, current, "promote", reason)
            return self._get(conn, version_id)

    def rollback(self, *, to: Any = None, reason: str | None = None) -> Version:
        """Put back the version that was production before the current one was promoted
        (or ``to``, any registered version)."""
        with self._transaction() as conn:
            current = self._production_id(conn)
            if current is None:
                raise RegistryError("no production version to roll back from")
            if to is not None:
                target = self._id(conn, to)
            else:
                row = conn.execute(
                    "SELECT previous FROM history WHERE action = 'promote' AND version = ? ORDER BY seq DESC LIMIT 1",
                    (current,),
                ).fetchone()
                if row is None or row[0] is None:
                    raise RegistryError(f"v{current} was the first production version; there is nothing to roll back to",
                                        hint="promote a version explicitly")
                target = int(row[0])
            if target == current:
                raise RegistryError(f"v{current} is already the production version")
            self._require_folder(conn, target)
            self._swap(conn, target, current, "rollback", reason)
            return self._get(conn, target)

    # -- internals -------------------------------------------------------------------------
    def _swap(self, conn: sqlite3.Connection, new: int, current: int | None, action: str, reason: str | None) -> None:
        if current is not None:
            conn.execute("UPDATE versions SET stage = 'archived' WHERE id = ?", (current,))
        conn.execute("UPDATE versions SET stage = 'production' WHERE id = ?", (new,))
        conn.execute("INSERT INTO history (at, action, version, previous, reason) VALUES (?, ?, ?, ?, ?)",
                     (_now(), action, new, current, reason))

    def _remove_leftovers(self) -> None:
        """Temp folders of copies that were killed. Only called with the write lock held:
        registrations copy inside their transaction, so no live copy can be in progress."""
        folder = self.root / VERSIONS_DIR
        if folder.is_dir():
            for path in folder.iterdir():
                if path.name.startswith(".") and path.name.endswith((".tmp", ".old")):
                    shutil.rmtree(path, ignore_errors=True)

    def _require_folder(self, conn: sqlite3.Connection, version_id: int) -> None:
        version = self._get(conn, version_id)
        if not (version.path / CARD_FILE).is_file():
            raise RegistryError(f"{version.name}: its bundle folder {version.path} is missing or incomplete")

    @staticmethod
    def _production_id(conn: sqlite3.Connection) -> int | None:
        row = conn.execute("SELECT id FROM versions WHERE stage = 'production'").fetchone()
        return int(row[0]) if row else None

    def _id(self, conn: sqlite3.Connection, ref: Any) -> int:
        if isinstance(ref, Version):
            ref = ref.id
        text = str(ref).strip().lower()
        if text == "production":
            found = self._production_id(conn)
            if found is None:
                raise RegistryError("there is no production version yet")
            return found
        digits = text[1:] if text.startswith("v") else text
        if not digits.isdigit():
            raise RegistryError(f"{ref!r} is not a version", hint="use a number like 3, v3, or 'production'")
        version_id = int(digits)
        if conn.execute("SELECT 1 FROM versions WHERE id = ?", (version_id,)).fetchone() is None:
            known = [f"v{r[0]}" for r in conn.execute("SELECT id FROM versions ORDER BY id")]
            raise RegistryError(f"no version v{version_id} in {self.root}", hint=f"versions: {', '.join(known) or 'none yet'}")
        return version_id

    def _get(self, conn: sqlite3.Connection, version_id: int) -> Version:
        row = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM versions WHERE id = ?", (version_id,)).fetchone()
        return self._version(row)

    def _version(self, row: tuple) -> Version:
        data = dict(zip(_COLUMNS, row))
        data["path"] = self.root / data["path"]
        data["metrics"] = json.loads(data["metrics"])
        return Version(**data)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(str(self.db_path), timeout=BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.Error as exc:
            raise RegistryError(f"{self.db_path}: cannot open the registry database ({exc})") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            yield conn
        except sqlite3.DatabaseError as exc:
            raise RegistryError(f"{self.db_path}: registry database error ({exc})") from exc
        finally:
            conn.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


def _read_card(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise RegistryError(f"{folder}: not a bundle folder")
    card_path = folder / CARD_FILE
    if not card_path.is_file():
        raise RegistryError(f"{folder}: no {CARD_FILE}; not an edgekit bundle")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{card_path}: not valid JSON ({exc})") from exc
    missing = [k for k in ("task", "target", "test_metrics", "winner") if k not in card] if isinstance(card, dict) else ["everything"]
    if missing:
        raise RegistryError(f"{card_path}: the model card lacks {missing}; not an edgekit bundle")
    return card


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
