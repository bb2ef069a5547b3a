"""Data in: CSV and Parquet files, or a bundled dataset by name."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from edgekit.runtime.errors import DataError
from edgekit.runtime.io import sniff_delimiter

# name -> (loader, default target, description)
_SKLEARN_SETS = {
    "digits": "load_digits",
    "diabetes": "load_diabetes",
    "breast-cancer": "load_breast_cancer",
    "wine": "load_wine",
    "iris": "load_iris",
}
BUNDLED = ("auto-mpg", *_SKLEARN_SETS)
DEFAULT_TARGETS = {"auto-mpg": "mpg", **{name: "target" for name in _SKLEARN_SETS}}


@dataclass(frozen=True)
class Dataset:
    """A table and where it came from; ``fingerprint`` is the sha256 of its source bytes."""

    name: str
    frame: pd.DataFrame
    source: str
    fingerprint: str


def load_dataset(source: str | Path) -> Dataset:
    """Load a bundled dataset by name, or a .csv / .parquet file."""
    text = str(source)
    if text in BUNDLED:
        return _bundled(text)
    path = Path(text)
    if not path.exists():
        raise DataError(
            f"{text}: no such file or bundled dataset",
            hint=f"give a .csv/.parquet path or one of {', '.join(BUNDLED)}",
        )
    if not path.is_file():
        raise DataError(f"{text}: not a file")
    data = path.read_bytes()
    suffix = path.suffix.lower()
    frame = _read_parquet(data, path) if suffix in (".parquet", ".pq") else _read_csv(data, path)
    return Dataset(path.stem, frame, str(path), hashlib.sha256(data).hexdigest())


def _bundled(name: str) -> Dataset:
    if name == "auto-mpg":
        data = resources.files("edgekit.train").joinpath("data/auto_mpg.csv").read_bytes()
        return Dataset(name, _read_csv(data, Path("auto_mpg.csv")), "edgekit:auto_mpg.csv", hashlib.sha256(data).hexdigest())
    from sklearn import datasets as sk

    bunch = getattr(sk, _SKLEARN_SETS[name])(as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    fingerprint = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()
    return Dataset(name, frame, f"sklearn:{_SKLEARN_SETS[name]}", fingerprint)


def _read_csv(data: bytes, path: Path) -> pd.DataFrame:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    first = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]  # the line ends pandas accepts
    if not first.strip():
        raise DataError(f"{path.name}: empty file; expected a header row")
    delimiter = sniff_delimiter(first)
    try:
        header = next(csv.reader([first], delimiter=delimiter))
    except csv.Error as exc:
        raise DataError(f"{path.name}: cannot parse the header row: {exc}") from exc
    names = [h.strip() for h in header]
    duplicates = sorted({h for h in names if names.count(h) > 1})
    if duplicates:
        raise DataError(f"{path.name}: duplicate column name(s) {duplicates}", hint="rename them so each column is unique")
    if any(not h for h in names):
        raise DataError(f"{path.name}: a column has an empty name")
    _check_row_lengths(text, delimiter, len(names), path)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path.name}: cannot parse as CSV: {str(exc).strip().splitlines()[0]}") from exc
    frame.columns = names
    if frame.empty:
        raise DataError(f"{path.name}: no data rows under the header")
    return frame


def _check_row_lengths(text: str, delimiter: str, width: int, path: Path) -> None:
    """Refuse ragged rows: pandas would turn extra leading values into an index and shift
    every column of the row, or pad short rows with missing values, without a word."""
    reader = csv.reader(io.StringIO(text, newline=None), delimiter=delimiter)
    try:
        for row in reader:
            if len(row) != width and any(field.strip() for field in row):
                raise DataError(f"{path.name}, line {reader.line_num}: {len(row)} values for {width} columns",
                                hint="every row needs one value per header column (empty for missing)")
    except csv.Error as exc:
        raise DataError(f"{path.name}, line {reader.line_num}: cannot parse as CSV: {exc}") from exc


def _read_parquet(data: bytes, path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise DataError(f"{path.name}: cannot read as Parquet: {exc}") from exc
    frame.columns = [str(c) for c in frame.columns]
    if len(set(frame.columns)) != len(frame.columns):
        raise DataError(f"{path.name}: duplicate column names")
    if frame.empty:
        raise DataError(f"{path.name}: no data rows")
    return frame
