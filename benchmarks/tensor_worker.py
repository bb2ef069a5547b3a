"""The on-device measurement for ANY model file, run in a fresh process per file.

Like ``edge_worker`` (bundle exports) it imports only the standard library, numpy and
``edgekit.runtime``, so cold start and peak RSS are the runtime's own, and prints one JSON
object on stdout. A user mistake (no such input, unknown dimension, a file that does not
load) prints ``{"error": ..., "error_type": ...}`` and exits 1.

Feeds: ``--inputs FILE.npz`` arrays (keys named like the model's inputs; every key must
be an input, inputs it lacks are synthesised), the rest from
``edgekit.runtime.tensors.synthetic_feeds`` with ``--seed`` and ``--shapes`` fixing
dynamic dimensions (an unknown first dimension is a batch of 1; any other unknown one is
a SchemaError naming it). The feeds are one inference: their shapes are what is timed.

One metric schema for every runtime (names shared with ``edge_worker``; ms, MB, bytes):

- ``python_start_ms``, ``import_ms`` (``import edgekit.runtime``), ``load_ms`` (read,
  verify, open the backend), ``feeds_ms`` (building the feeds; not part of cold start),
  ``first_prediction_ms`` (the first, validated ``model.run``), ``cold_start_ms`` (the
  parent's spawn -> first inference done, minus ``feeds_ms``), ``cold_peak_rss_mb``
  (VmHWM right then) and ``peak_rss_mb`` (VmHWM at the end, after the batch runs);
- ``warmup_mean_ms`` over ``--warmup`` hot calls; ``latency_samples_ms``: ``--runs``
  individually timed hot calls (the parent turns them into ``latency_ms`` with
  count/p50/p90/p95/p99/mean/std/min/max); ``validated_samples_ms``: ``model.run`` on
  the feed dict (max(20, runs/10) calls, the convenience API's cost);
- ``throughput_inferences_per_s`` at the feed shape; ``throughput_rows_per_s`` keyed by
  batch size (``"1"``, ``"32"``, ``"1024"``) when the model has a batch dimension (every
  input whose first dimension is dynamic is tiled from the feed rows), else ``{}``;
  ``skipped_batches`` says why a size was not run (too large, or the model refused it);
- ``size_bytes``, ``sha256``, ``format``, ``backend``, ``signature``, ``inputs``/``outputs``
  (tensor specs), ``feeds`` (shape, dtype and source per input), ``feeds_sha256``,
  ``threads``, ``cpus``, ``heavy_modules`` (must stay empty).

The hot call is the thinnest the tensor layer offers, after one validated ``model.run``:
prepared arrays through ``engine.raw_runner()`` (one input, one output) or
``engine.invoke`` (several); :func:`hot_call` is shared with ``overhead``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

from edgekit.benchmarks.edge_worker import _rss_mb, _throughput, _timed_calls

MAX_BATCH_FEED_BYTES = 256 << 20  # a batch whose feeds would need more is skipped, not allocated
HEAVY_MODULES = ("tensorflow", "keras", "sklearn", "pandas", "scipy")


def tensor_model(model):
    """The TensorModel under a load() result (tabular exports wrap one)."""
    return getattr(model, "tensor", None) or model


def read_inputs(path: str, specs) -> dict:
    """Arrays of an .npz file whose keys must all be inputs of the model (no pickle)."""
    import difflib

    import numpy as np

    from edgekit.runtime.errors import DataError, SchemaError

    try:
        with np.load(path, allow_pickle=False) as data:
            given = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"--inputs {path}: not a readable .npz file ({exc})") from exc
    names = [s.name for s in specs]
    unknown = [key for key in given if key not in names]
    if unknown:
        close = {u: difflib.get_close_matches(u, names, n=1, cutoff=0.5) for u in unknown}
        guesses = [f"{u!r} -> {c[0]!r}?" for u, c in close.items() if c]
        raise SchemaError(f"--inputs {os.path.basename(path)}: {unknown} {'is not an input' if len(unknown) == 1 else 'are not inputs'} "
                          f"of the model; its inputs are {names}", hint=f"rename the arrays ({', '.join(guesses)})" if guesses else None)
    return given


def build_feeds(model, *, inputs: str | None = None, shapes: dict | None = None, seed: int = 0):
    """(feeds by input name, source per input: 'file' or 'synthetic')."""
    from edgekit.runtime.errors import SchemaError
    from edgekit.runtime.tensors import synthetic_feeds

    shapes = dict(shapes or {})
    given = read_inputs(inputs, model.inputs) if inputs else {}
    both = [name for name in shapes if name in given]
    if both:
        raise SchemaError(f"input {both[0]!r} is given by --inputs and by --shape", hint="drop the --shape for it")
    rest = [s for s in model.inputs if s.name not in given]
    synthetic = synthetic_feeds(rest, shapes, seed=seed)
    feeds = {s.name: given[s.name] if s.name in given else synthetic[s.name] for s in model.inputs}
    return feeds, {name: ("file" if name in given else "synthetic") for name in feeds}


def hot_call(model, arrays):
    """(callable, argument) of the thinnest call for these prepared arrays."""
    engine = model.engine
    if len(arrays) == 1 and len(model.outputs) == 1:
        return engine.raw_runner(), arrays[0]
    return engine.invoke, list(arrays)


def batch_inputs(model) -> list[int]:
    """Positions of inputs whose first dimension is dynamic: the batch dimension."""
    return [i for i, s in enumerate(model.inputs) if s.rank >= 1 and not isinstance(s.shape[0], int)]


def batched(arrays, positions: list[int], size: int):
    """The prepared arrays with each batch input cycled through its rows to ``size`` rows."""
    import numpy as np

    out = list(arrays)
    for i in positions:
        rows = max(arrays[i].shape[0], 1)
        out[i] = np.ascontiguousarray(np.take(arrays[i], np.arange(size) % rows, axis=0))
    return out


def _plain(values):
    """Object (string) arrays as unicode, so the .npz loads without pickle."""
    return values.astype(str) if values.dtype == object else values


def feeds_digest(feeds) -> str:
    """sha256 over names, dtypes, shapes and values: equal digests mean identical feeds."""
    digest = hashlib.sha256()
    for name in sorted(feeds):
        value = feeds[name]
        digest.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        data = "\0".join(map(str, value.ravel().tolist())).encode() if value.dtype.kind in "OUS" else value.tobytes()
        digest.update(data)
    return digest.hexdigest()


def _throughput_by_batch(model, arrays, batch_sizes, seconds):
    from edgekit.runtime.errors import EdgekitError

    positions = batch_inputs(model)
    rows_per_s, skipped = {}, {}
    if not positions:
        return rows_per_s, skipped
    for size in batch_sizes:
        base = sum(a.nbytes for i, a in enumerate(arrays) if i not in positions)
        need = base + sum(arrays[i].nbytes // max(arrays[i].shape[0], 1) * size for i in positions)
        if need > MAX_BATCH_FEED_BYTES:
            skipped[str(size)] = f"feeds would need {need >> 20} MB"
            continue
        call, arg = hot_call(model, batched(arrays, positions, size))
        try:
            call(arg)
            rows_per_s[str(size)] = _throughput(call, arg, size, seconds)
        except EdgekitError as exc:
            skipped[str(size)] = str(exc)
    return rows_per_s, skipped


def measure(args, t0: float) -> dict:
    t_main = time.time()
    started = time.perf_counter()
    from edgekit.runtime import load

    import_ms = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    model = tensor_model(load(args.model, threads=args.threads, signature=args.signature))
    load_ms = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    feeds, sources = build_feeds(model, inputs=args.inputs, shapes=json.loads(args.shapes), seed=args.seed)
    feeds_ms = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    outputs = model.run(feeds)
    first_ms = (time.perf_counter() - started) * 1e3
    cold_start_ms = (time.time() - t0) * 1e3 - feeds_ms
    cold_rss = _rss_mb()

    import numpy as np

    from edgekit.runtime.tensors import prepare_feeds

    arrays = prepare_feeds(model.inputs, feeds)
    call, arg = hot_call(model, arrays)
    warmup = _timed_calls(call, arg, args.warmup)
    latency = _timed_calls(call, arg, args.runs)
    validated = _timed_calls(model.run, feeds, max(20, args.runs // 10))
    per_second = _throughput(call, arg, 1, args.throughput_seconds)
    rows_per_s, skipped = _throughput_by_batch(model, arrays, [int(b) for b in args.batch_sizes.split(",") if b],
                                               args.throughput_seconds)
    if args.save:  # the parent compares outputs across files and builds cloud requests from the same feeds
        np.savez(args.save, **{f"feed:{k}": _plain(v) for k, v in feeds.items()},
                 **{f"output:{k}": _plain(model.dequantize(k, v)) for k, v in outputs.items()},
                 **{f"raw:{k}": _plain(v) for k, v in outputs.items()})
    positions = batch_inputs(model)
    return {
        "python_start_ms": (t_main - t0) * 1e3,
        "import_ms": import_ms,
        "load_ms": load_ms,
        "feeds_ms": feeds_ms,
        "first_prediction_ms": first_ms,
        "cold_start_ms": cold_start_ms,
        "cold_peak_rss_mb": cold_rss,
        "warmup_mean_ms": sum(warmup) / len(warmup) if warmup else None,
        "latency_samples_ms": latency,
        "validated_samples_ms": validated,
        "latency_call": "engine.raw_runner()" if not isinstance(arg, list) else "engine.invoke(arrays)",
        "throughput_inferences_per_s": per_second,
        "throughput_rows_per_s": rows_per_s,
        "skipped_batches": skipped,
        "batched": bool(positions),
        "rows_per_inference": int(arrays[positions[0]].shape[0]) if positions else None,
        "peak_rss_mb": _rss_mb(),
        "size_bytes": model.size_bytes,
        "sha256": model.sha256,
        "format": model.format,
        "backend": model.backend,
        "signature": model.signature,
        "quantization": model.quantization,
        "inputs": [s.to_dict() for s in model.inputs],
        "outputs": [s.to_dict() for s in model.outputs],
        "feeds": {k: {"shape": list(v.shape), "dtype": str(v.dtype), "source": sources[k]} for k, v in feeds.items()},
        "feeds_sha256": feeds_digest(feeds),
        "seed": args.seed,
        "threads": args.threads,
        "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "heavy_modules": sorted(m for m in HEAVY_MODULES if m in sys.modules),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--t0", type=float, required=True, help="parent's time.time() at spawn")
    parser.add_argument("--inputs", default=None, help=".npz with arrays named like the model's inputs")
    parser.add_argument("--shapes", default="{}", help='JSON: {"input": [1, 16000]} for dynamic dimensions')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--signature", default=None)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cpus", default="")
    parser.add_argument("--batch-sizes", default="1,32,1024")
    parser.add_argument("--throughput-seconds", type=float, default=0.5)
    parser.add_argument("--save", default=None, help="write the feeds and the raw and dequantised outputs to this .npz")
    args = parser.parse_args(argv)
    if args.cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})

    try:
        result = measure(args, args.t0)
    except Exception as exc:
        from edgekit.runtime.errors import EdgekitError  # imported late: import_ms times the runtime's import

        if not isinstance(exc, EdgekitError):
            raise
        sys.stdout.write(json.dumps({"error": str(exc), "error_type": type(exc).__name__}) + "\n")
        sys.exit(1)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
