"""``edgekit predict ... --scheduler``: the option checks and the summary line; the work is
:func:`edgekit.scale.job.score_to_parquet`."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.runtime.errors import ConfigError


def predict_on_dask(model: Path, source: Path | None, out: Path | None, *, scheduler: str | None, force: bool,
                    json_rows: str | None, raw: bool, log_path: Path | None, batch_size: int, id_column: str | None,
                    passthrough: tuple[str, ...], delimiter: str | None, threads: int | None, backend: str | None,
                    verify: bool) -> None:
    if scheduler is None:
        raise ConfigError("--force only applies with --scheduler (single-process predict replaces --out atomically)")
    if json_rows is not None or raw:
        raise ConfigError("--scheduler scores a dataset: give INPUT (Parquet/CSV file, folder or glob), not --json or raw tensors")
    if source is None or out is None:
        raise ConfigError("--scheduler needs INPUT and --out FOLDER",
                          hint="edgekit predict model.onnx data/ --out preds/ --scheduler local:2")
    if log_path is not None:
        raise ConfigError("--log is not supported with --scheduler: many workers cannot share one SQLite log",
                          hint="keep --id-column in the output and join the Parquet parts instead")
    from edgekit.scale import score_to_parquet

    result = score_to_parquet(model, source, out, scheduler=scheduler, id_column=id_column, passthrough=passthrough,
                              batch_size=batch_size, threads=threads or 1, backend=backend, verify=verify,
                              delimiter=delimiter, force=force)
    resumed = f" ({result.skipped} already done by an earlier run)" if result.skipped else ""
    click.echo(f"{result.rows} predictions written to {result.out} in {result.parts} parts{resumed} "
               f"on {result.scheduler}, {result.seconds:.1f} s", err=True)
