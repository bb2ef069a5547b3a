"""``edgekit predict IMAGE_MODEL photo.jpg | FOLDER``: the image branch of ``edgekit predict``.

One file prints its top-3 labels; a folder (searched recursively, in sorted order) streams
through in batches with a progress bar, into ``--out preds.csv`` (written atomically) or
as CSV on stdout. A file that cannot be read as an image is a row with its error, never
the end of the run. Imports the runtime only: Pillow decodes the files, nothing heavier.
"""

from __future__ import annotations

import contextlib
import csv
import sys
from pathlib import Path

import click

from edgekit.console import progress

TOP_K = 3
IMAGE_BATCH = 64  # decoded images held at once: a few MB even for 224x224 RGB


def predict_images(model, source: Path, out: Path | None, *, batch_size: int = IMAGE_BATCH) -> None:
    from edgekit.runtime.errors import DataError

    if not source.exists():
        raise DataError(f"{source}: no such image file or folder")
    if source.is_file() and out is None:
        _show_one(model, source)
        return
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    if not files:
        raise DataError(f"{source}: no files to predict")
    root = source if source.is_dir() else source.parent
    failed = _write_rows(model, files, root, out, min(batch_size, IMAGE_BATCH))
    if out is not None:
        click.echo(f"{len(files) - failed} predictions written to {out}", err=True)
    if failed:
        click.echo(f"note: {failed} file(s) could not be read as images (their rows give the error)", err=True)


def _show_one(model, path: Path) -> None:
    prediction = model.predict([path], top_k=TOP_K)
    click.echo(f"{path.name}:")
    for rank, (label, p) in enumerate(zip(prediction.top_k[0], prediction.top_k_probabilities[0]), 1):
        click.echo(f"  {rank}. {label}  {p:.4f}")


def _write_rows(model, files: list[Path], root: Path, out: Path | None, batch: int) -> int:
    from edgekit.runtime.errors import DataError
    from edgekit.runtime.io import atomic_write

    header = ["file", "label", "probability"]
    for k in range(2, TOP_K + 1):
        header += [f"label_{k}", f"probability_{k}"]
    header.append("error")
    target = atomic_write(out, "w", newline="", encoding="utf-8") if out else contextlib.nullcontext(sys.stdout)
    failed = 0
    with target as handle, progress(f"predicting {root.name or root}", total=len(files)) as bar:
        writer = csv.writer(handle)
        writer.writerow(header)
        for start in range(0, len(files), batch):
            names, pixels, errors = [], [], {}
            for path in files[start : start + batch]:
                name = path.relative_to(root).as_posix()
                try:
                    pixels.append(model.read(path))
                    names.append(name)
                except DataError as exc:
                    errors[name] = exc.message
            rows = {}
            if pixels:
                import numpy as np

                prediction = model.predict(np.stack(pixels), top_k=TOP_K)
                for name, labels, probabilities in zip(names, prediction.top_k, prediction.top_k_probabilities):
                    row = [name]
                    for label, p in zip(labels, probabilities):
                        row += [label, f"{p:.6g}"]
                    rows[name] = row + [""] * (len(header) - 1 - len(row)) + [""]
            for name, message in errors.items():
                rows[name] = [name] + [""] * (len(header) - 2) + [message]
            failed += len(errors)
            for path in files[start : start + batch]:
                writer.writerow(rows[path.relative_to(root).as_posix()])
            bar.advance(min(batch, len(files) - start))
    return failed
