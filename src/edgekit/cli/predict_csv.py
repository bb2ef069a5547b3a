"""Batch prediction over a CSV file of any size: chunked, constant memory, atomic output."""

from __future__ import annotations

import contextlib
import csv
import sys
from pathlib import Path

import numpy as np

from edgekit.console import progress
from edgekit.runtime.errors import SchemaError
from edgekit.runtime.io import CsvChunks, atomic_write


def count_rows(path: Path) -> int:
    """Data rows (newlines after the header), counted in binary blocks."""
    lines = 0
    last = b"\n"
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(lines - 1 + (last != b"\n"), 0)


def predict_csv(model, source: Path, out: Path | None, *, batch_size: int, id_column: str | None,
                passthrough: tuple[str, ...], delimiter: str | None) -> int:
    chunks = CsvChunks(source, batch_size, delimiter)
    copied = ([id_column] if id_column else []) + [c for c in passthrough if c != id_column]
    missing = [c for c in copied if c not in chunks.header]
    if missing:
        chunks.close()
        raise SchemaError(f"{source.name} has no column(s) {missing}")
    ignored = ignored_columns(model, [c for c in chunks.header if c not in copied])
    features = [c for c in chunks.header if c not in copied and c not in ignored]
    positions = {name: i for i, name in enumerate(chunks.header)}
    header = copied + _output_columns(model)
    target = atomic_write(out, "w", newline="", encoding="utf-8") if out else contextlib.nullcontext(sys.stdout)
    written = 0
    with target as handle, progress(f"predicting {source.name}", total=count_rows(source)) as bar:
        writer = csv.writer(handle)
        writer.writerow(header)
        for chunk in chunks:
            columns = {name: np.asarray([row[positions[name]] for row in chunk], dtype=object) for name in features}
            ids = [row[positions[id_column]] for row in chunk] if id_column else None
            prediction = model.predict(columns, request_ids=ids)
            extra = [[row[positions[c]] for c in copied] for row in chunk]
            writer.writerows(e + v for e, v in zip(extra, _values(prediction)))
            written += len(chunk)
            bar.advance(len(chunk))
    return written


def ignored_columns(model, names) -> list[str]:
    """Columns the model's manifest says it does not take (target, dropped identifiers), named on stderr."""
    known = dict(model.manifest.ignored_columns)
    features = set(model.schema.names)
    ignored = [n for n in names if n in known and n not in features]
    if ignored:
        reasons = ", ".join(f"{n} ({known[n]})" for n in ignored)
        print(f"edgekit: ignored column(s) the model does not take: {reasons}", file=sys.stderr)
    return ignored


def _output_columns(model) -> list[str]:
    if model.task == "regression":
        return ["prediction"]
    return ["label"] + [f"p_{label}" for label in model.labels]


def _values(prediction):
    if prediction.task == "regression":
        return ([f"{v:.9g}"] for v in prediction.values)
    probabilities = prediction.probabilities
    return ([label] + [f"{p:.6g}" for p in probabilities[i]] for i, label in enumerate(prediction.values))
