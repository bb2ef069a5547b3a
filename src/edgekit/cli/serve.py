"""``edgekit serve``: the cloud baseline, a bundle, an export or any model file behind a REST server."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("bundle", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0: all).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes, each with its own copy of the model.")
@click.option("--export", "export", type=click.Path(path_type=Path), default=None,
              help="Serve this .tflite/.onnx export of BUNDLE through edgekit.runtime instead of the source model.")
@click.option("--name", default=None, help="Model name in URLs (default: the bundle folder or model file name).")
@click.option("--signature", default=None, help="Signature to serve from a .tflite file that has several.")
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="Backend threads for a model file.")
@click.option("--max-batch-size", type=click.IntRange(1), default=32, show_default=True,
              help="Most rows the micro-batcher puts in one model call.")
@click.option("--max-delay-ms", type=click.FloatRange(0, 10_000), default=2.0, show_default=True,
              help="Longest a request waits for others to batch with.")
@click.option("--no-batching", is_flag=True, help="Run every request alone (still on the one model thread).")
@click.option("--max-body-bytes", type=click.IntRange(1024), default=16 * 1024 * 1024, show_default=True,
              help="Larger request bodies get 413.")
@click.option("--body-timeout", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
              help="Seconds a request body may take to arrive before 408 (slow or stalled clients).")
@click.option("--log", "log", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Record every prediction in this SQLite prediction log (for 'edgekit monitor').")
@click.option("--access-log", is_flag=True, help="Log every request (costs throughput).")
def serve(bundle, host, port, workers, export, name, signature, threads, max_batch_size, max_delay_ms, no_batching,
          max_body_bytes, body_timeout, log, access_log):
    """Serve MODEL over REST: Open Inference Protocol (KServe V2, Triton clients) at
    /v2/models/NAME/infer and TensorFlow Serving's API at /v1/models/NAME:predict.
    OpenAPI document at /openapi.json, interactive docs at /docs.

    MODEL is a bundle folder (its source model; with --export one of its exports) or a
    .tflite/.onnx/.ort file. An edgekit tabular export takes feature columns; any other
    model file is served as its own tensors (names, shapes and datatypes at
    /v2/models/NAME), micro-batched along axis 0 when every input and output has a
    dynamic first dimension."""
    from edgekit.serve.server import run

    run(
        bundle, export=export, name=name, signature=signature, threads=threads, host=host, port=port, workers=workers,
        batching=not no_batching, max_batch_size=max_batch_size, max_delay_ms=max_delay_ms, max_body_bytes=max_body_bytes, body_timeout=body_timeout,
        log=str(log) if log is not None else None, access_log=access_log,
    )
