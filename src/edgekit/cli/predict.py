"""``edgekit predict``: the on-device command. Imports the runtime only (no TensorFlow,
scikit-learn or pandas); CSV files stream through in chunks with constant memory.

Tabular exports take rows (CSV or ``--json``); any model file takes raw tensors
(``--input NAME=FILE.npy``, ``--inputs FILE.npz``, or ``--json`` with input name -> nested
lists) and gives raw tensors back (``--out OUT.npz``, or JSON on stdout)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from edgekit.cli.options import csv_list


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("input_csv", required=False, type=click.Path(path_type=Path))
@click.option("--json", "json_rows", default=None, help="One row object, a list of them, or columns -> lists.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Predictions CSV for rows, .npz for raw tensors (default: stdout).")
@click.option("--batch-size", type=click.IntRange(1), default=4096, show_default=True, help="Rows per chunk in batch mode.")
@click.option("--id-column", default=None, help="Input column copied to the output and used as request id in the log.")
@click.option("--passthrough", default=None, help="Other input columns to copy to the output (not fed to the model).")
@click.option("--delimiter", default=None, help="CSV delimiter (default: detected from the header).")
@click.option("--threads", type=click.IntRange(1), default=None, help="Backend threads.")
@click.option("--backend", default=None, help="Force a backend: ai-edge-litert, tflite-runtime, tf.lite, onnxruntime.")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check against the sidecar manifest.")
@click.option("--log", "log_path", type=click.Path(path_type=Path), default=None, help="Append predictions to this SQLite log.")
@click.option("--input", "input_pairs", multiple=True, metavar="NAME=FILE.npy", help="Raw input tensor (repeatable; any model).")
@click.option("--inputs", "inputs_npz", type=click.Path(path_type=Path), default=None, help="Raw input tensors: an .npz named like the inputs.")
@click.option("--dequantize", is_flag=True, help="Raw-tensor mode: give int8/uint8 outputs as float32.")
@click.option("--signature", default=None, help="TFLite signature to run when the file has several.")
@click.option("--scheduler", default=None, metavar="local[:N]|tcp://HOST:PORT",
              help="Score INPUT (Parquet/CSV file, folder or glob) on Dask into --out FOLDER of Parquet parts.")
@click.option("--force", is_flag=True, help="With --scheduler: replace another run's parts in --out.")
def predict(model, input_csv, json_rows, out, batch_size, id_column, passthrough, delimiter, threads, backend, no_verify,
            log_path, input_pairs, inputs_npz, dequantize, signature, scheduler, force):
    """Predict with MODEL (.tflite/.onnx/.ort): rows from INPUT_CSV (batch) or --json (real time) for edgekit
    exports; raw tensors (--input/--inputs, or --json by input name) for any model file; an image file (top-3)
    or a folder of them (CSV with --out) for image models."""
    from edgekit.runtime import ImageModel, TensorModel, load
    from edgekit.runtime.errors import ConfigError

    raw = bool(input_pairs or inputs_npz)
    if scheduler is not None or force:
        from edgekit.scale.cli import predict_on_dask

        predict_on_dask(model, input_csv, out, scheduler=scheduler, force=force, json_rows=json_rows, raw=raw,
                        log_path=log_path, batch_size=batch_size, id_column=id_column, passthrough=csv_list(passthrough),
                        delimiter=delimiter, threads=threads, backend=backend, verify=not no_verify)
        return
    if raw and input_csv is not None:
        raise ConfigError("give either an INPUT_CSV or raw tensors (--input/--inputs), not both")
    if not raw and (input_csv is None) == (json_rows is None):
        raise ConfigError("give an INPUT_CSV, --json, or raw tensors with --input NAME=FILE.npy / --inputs FILE.npz",
                          hint="edgekit predict model.tflite --json '{\"x\": 1}'")
    with load(model, threads=threads, backend=backend, verify=not no_verify, log=log_path, signature=signature) as loaded:
        if isinstance(loaded, ImageModel) and not raw and input_csv is not None:
            from edgekit.cli.predict_images import predict_images

            predict_images(loaded, input_csv, out, batch_size=batch_size)
            return
        if raw or isinstance(loaded, TensorModel):
            if input_csv is not None:
                raise ConfigError(f"{model.name} has no edgekit feature schema, so it takes raw tensors, not a CSV",
                                  hint="edgekit predict MODEL --inputs FILE.npz (arrays named like the inputs; see edgekit info MODEL)")
            _predict_tensors(loaded, inputs_npz, input_pairs, json_rows, out, dequantize)
            return
        if json_rows is not None:
            click.echo(json.dumps(_predict_json(loaded, json_rows)))
        else:
            from edgekit.cli.predict_csv import predict_csv

            rows = predict_csv(loaded, input_csv, out, batch_size=batch_size, id_column=id_column,
                               passthrough=csv_list(passthrough), delimiter=delimiter)
            if out is not None:
                click.echo(f"{rows} predictions written to {out}", err=True)


def _without_ignored(model, rows):
    from edgekit.cli.predict_csv import ignored_columns

    records = rows if isinstance(rows, list) else [rows]
    names = list(dict.fromkeys(k for r in records if isinstance(r, dict) for k in r))
    ignored = set(ignored_columns(model, names))
    if not ignored:
        return rows
    strip = lambda r: {k: v for k, v in r.items() if k not in ignored} if isinstance(r, dict) else r  # noqa: E731
    return [strip(r) for r in rows] if isinstance(rows, list) else strip(rows)


def _predict_tensors(model, inputs_npz, input_pairs, json_feeds, out, dequantize) -> None:
    from edgekit.cli.predict_tensors import outputs_as_json, read_feeds, write_npz

    outputs = model.run(read_feeds(inputs_npz, input_pairs, json_feeds), dequantize=dequantize)
    if out is None:
        click.echo(json.dumps(outputs_as_json(outputs)))
        return
    write_npz(out, outputs)
    shapes = ", ".join(f"{name} {list(value.shape)} {value.dtype}" for name, value in outputs.items())
    click.echo(f"outputs written to {out}: {shapes}", err=True)


def _predict_json(model, text: str):
    from edgekit.runtime.errors import SchemaError

    try:
        rows = json.loads(text)
    except ValueError as exc:
        raise SchemaError(f"--json is not valid JSON: {exc}") from exc
    single = isinstance(rows, dict) and not any(isinstance(v, list) for v in rows.values())
    if single:
        rows = [rows]
    rows = _without_ignored(model, rows)
    prediction = model.predict(rows)
    records = prediction.to_records()
    if prediction.request_ids:
        for record, request_id in zip(records, prediction.request_ids):
            record["request_id"] = request_id
    return records[0] if single else records


if __name__ == "__main__":  # pragma: no cover
    sys.exit(predict())
