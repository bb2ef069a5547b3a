"""Which rows go into which part: INPUT (a file, a folder or a glob) cut into pieces.

A piece is a stable slice of one file, so its part file has a stable name and a rerun can
tell what is done: a run of whole Parquet row groups (row count known from the footer),
or a byte range of a CSV file that starts and ends on line starts. Pieces are planned on
the driver from file metadata only; workers read them.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from edgekit.runtime.errors import DataError, SchemaError
from edgekit.runtime.io import sniff_delimiter

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
# Big enough that per-task overhead vanishes, small enough that a worker holding one piece
# and its predictions stays far below the 300 MB per worker the scale benchmark checks.
PARTITION_ROWS = 262_144
CSV_BLOCK_BYTES = 16 << 20


@dataclass(frozen=True)
class Piece:
    """One partition: rows of ``path`` scored by one task into ``part``."""

    index: int
    path: str
    kind: str  # "parquet" | "csv"
    row_groups: tuple[int, ...] = ()
    rows: int | None = None  # known up front for Parquet
    first_row: int | None = None  # data row (0-based) in the file where the piece starts; Parquet only
    start: int = 0  # CSV byte range [start, end), both on line starts
    end: int = 0
    delimiter: str | None = None
    stamp: str = ""  # the file's size and mtime when planned

    @property
    def key(self) -> str:
        """Identifies exactly these rows of this version of the file: a part is reused by a
        rerun only if its key still matches, so an edited file's pieces are scored again."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    @property
    def part(self) -> str:
        return f"part-{self.index:06d}.parquet"

    @property
    def label(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class Plan:
    pieces: tuple[Piece, ...]
    files: tuple[dict, ...]  # path, size, mtime_ns of every input file
    columns: tuple[str, ...]  # the first file's columns

    @property
    def known_rows(self) -> int | None:
        """Total rows when every piece knows its count (all Parquet), else None."""
        if any(p.rows is None for p in self.pieces):
            return None
        return sum(p.rows for p in self.pieces)


def resolve_files(source: str | os.PathLike) -> list[Path]:
    """A Parquet/CSV file, every such file under a folder (names starting with '.' or '_'
    are skipped, as Parquet readers do), or the files a glob matches; sorted."""
    path = Path(source)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file() and _readable_suffix(p) and not _hidden(p, path)]
        if not files:
            raise DataError(f"{path}: no .parquet or .csv files in this folder")
    else:
        matches = glob.glob(str(source), recursive=True)
        if not matches and not glob.has_magic(str(source)):
            raise DataError(f"{source}: no such file or folder")
        files = [Path(m) for m in matches if Path(m).is_file()]
        if not files:
            raise DataError(f"{source}: the pattern matches no files")
    unknown = [p.name for p in files if not _readable_suffix(p)]
    if unknown:
        raise DataError(f"cannot read {unknown[0]}: batch scoring takes .parquet and .csv files")
    return sorted(p.resolve() for p in files)


def plan_input(source: str | os.PathLike, *, partition_rows: int = PARTITION_ROWS, csv_block_bytes: int = CSV_BLOCK_BYTES,
               delimiter: str | None = None, required: tuple[str, ...] = ()) -> Plan:
    """Cut the input into pieces; every file must have the ``required`` columns."""
    pieces: list[Piece] = []
    files, first_columns = [], None
    for path in resolve_files(source):
        stat = path.stat()
        files.append({"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
        if path.suffix.lower() in PARQUET_SUFFIXES:
            columns, found = _parquet_pieces(path, partition_rows, len(pieces))
        else:
            columns, found = _csv_pieces(path, csv_block_bytes, delimiter, len(pieces))
        found = [replace(p, stamp=f"{stat.st_size}:{stat.st_mtime_ns}") for p in found]
        missing = [c for c in required if c not in columns]
        if missing:
            raise SchemaError(f"{path.name} has no column(s) {missing}")
        first_columns = first_columns or tuple(columns)
        pieces.extend(found)
    if not pieces:
        raise DataError(f"{source}: no rows to predict")
    return Plan(tuple(pieces), tuple(files), first_columns)


def _parquet_pieces(path: Path, partition_rows: int, offset: int) -> tuple[list[str], list[Piece]]:
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a broken footer
        raise DataError(f"{path.name}: not a readable Parquet file ({exc})") from None
    columns = list(metadata.schema.to_arrow_schema().names)
    pieces, groups, rows, first = [], [], 0, 0
    for group in range(metadata.num_row_groups):
        groups.append(group)
        rows += metadata.row_group(group).num_rows
        if rows >= partition_rows or group == metadata.num_row_groups - 1:
            if rows:
                pieces.append(Piece(offset + len(pieces), str(path), "parquet", tuple(groups), rows, first))
            first += rows
            groups, rows = [], 0
    return columns, pieces


def _csv_pieces(path: Path, block: int, delimiter: str | None, offset: int) -> tuple[list[str], list[Piece]]:
    import csv

    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.readline()
        try:
            text = header.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
        if not text.strip():
            raise DataError(f"{path.name}: empty file; expected a header row")
        delimiter = delimiter or sniff_delimiter(text)
        columns = [c.strip() for c in next(csv.reader([text], delimiter=delimiter))]
        starts = [handle.tell()]
        while starts[-1] + block < size:
            handle.seek(starts[-1] + block - 1)
            handle.readline()  # the next line start at or after the boundary
            if handle.tell() >= size:
                break
            starts.append(handle.tell())
    ends = starts[1:] + [size]
    pieces = [Piece(offset + i, str(path), "csv", start=s, end=e, delimiter=delimiter)
              for i, (s, e) in enumerate((s, e) for s, e in zip(starts, ends) if e > s)]
    return columns, pieces


def csv_first_row(piece: Piece) -> int:
    """The data row (0-based) a CSV piece starts at; counted only when an error needs it."""
    with open(piece.path, "rb") as handle:
        newlines = 0
        remaining = piece.start
        while remaining > 0:
            block = handle.read(min(remaining, 1 << 20))
            if not block:
                break
            newlines += block.count(b"\n")
            remaining -= len(block)
    return max(newlines - 1, 0)  # the header's newline is not a data row


def _readable_suffix(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES + CSV_SUFFIXES


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith((".", "_")) for part in path.relative_to(root).parts)
