"""Per-call overhead of edgekit's hot paths against the raw backend loop.

    python -m edgekit.benchmarks.overhead --bundle BUNDLE          # uses BUNDLE/exports
    python -m edgekit.benchmarks.overhead --tflite A.tflite --onnx B.onnx
    python -m edgekit.benchmarks.overhead --model ANY.tflite --model ANY.onnx [--shape x=1,50,6]

``--bundle/--tflite/--onnx`` (tabular exports): interleaved blocks of batch-1 calls time
(a) the raw loop — ``set_tensor``/``invoke``/``get_tensor`` for LiteRT, ``session.run``
with prepared feeds for ONNX Runtime — and (b) ``Model.predict_array`` on the same array;
the medians and their ratio are printed side by side. Target: ratio <= 1.5.

``--model`` (any model file): (a) the exact hot call ``edgekit bench`` times for the file
(``tensor_worker.hot_call``: prepared arrays through ``engine.raw_runner()`` or
``engine.invoke``, after one validated ``model.run``) and (b) a bare loop over the same
file and the same arrays (LiteRT ``set_tensor``/``invoke``/``get_tensor`` for every input
and output, or ONNX Runtime ``session.run(output_names, feeds)``), both timed call by call with
the bench's own timer in interleaved blocks; p50 of each and their ratio. Both loops'
outputs are checked equal first. Target: ratio <= 1.25.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np


def _per_call_us(fn, arg, calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        fn(arg)
    return (time.perf_counter_ns() - started) / calls / 1e3


def compare(raw, ours, x, *, blocks: int, calls: int) -> dict[str, float]:
    for _ in range(3):  # warm-up
        raw(x)
        ours(x)
    raw_us, ours_us = [], []
    for _ in range(blocks):
        raw_us.append(_per_call_us(raw, x, calls))
        ours_us.append(_per_call_us(ours, x, calls))
    raw_median, ours_median = statistics.median(raw_us), statistics.median(ours_us)
    return {"raw_us": raw_median, "edgekit_us": ours_median, "ratio": ours_median / raw_median}


def raw_litert(path: Path, threads: int | None):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], [1, int(detail["shape"][1])])
    interpreter.allocate_tensors()
    index_in = interpreter.get_input_details()[0]["index"]
    index_out = interpreter.get_output_details()[0]["index"]
    set_tensor, invoke, get_tensor = interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor

    def run(x):
        set_tensor(index_in, x)
        invoke()
        return get_tensor(index_out)

    return run


def raw_ort(path: Path, threads: int | None, manifest):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    outputs = list(manifest.outputs)
    run = session.run

    if manifest.input_layout == "matrix":
        def run_matrix(x):
            return run(outputs, {names[0]: x})
        return run_matrix

    def run_columns(x):
        return run(outputs, {name: x[:, i : i + 1] for i, name in enumerate(names)})
    return run_columns


def measure(path: Path, *, threads: int | None, blocks: int, calls: int) -> dict:
    from edgekit.runtime import load

    model = load(path, threads=threads)
    x = np.zeros((1, len(model.schema)), dtype=np.float32)
    for j, feature in enumerate(model.schema):
        x[0, j] = feature.categories[0] if feature.categories and not feature.is_string else (feature.min or 0.0)
    raw = raw_litert(path, threads) if model.format == "tflite" else raw_ort(path, threads, model.manifest)
    result = compare(raw, model.predict_array, x, blocks=blocks, calls=calls)
    return {"model": str(path), "format": model.format, "quantization": model.manifest.quantization,
            "backend": model.backend.name, **result}


def bare_tensor_loop(path: Path, model, arrays, threads: int | None):
    """(callable, argument): a bare backend loop over ``path`` on the prepared arrays, the
    way a hand-written loop would call it (one array in and out for one-input one-output
    models, else lists in ``model.inputs``/``model.outputs`` order). Tensors are found
    through the backend's own API (signature details or tensor names), not through edgekit."""
    single = len(arrays) == 1 and len(model.outputs) == 1
    if model.format != "tflite":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        # Output names resolved once: run(None, ...) would rebuild the list on every call.
        names, outputs, run = [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()], session.run
        if single:
            name = names[0]
            return (lambda x: run(outputs, {name: x})[0]), arrays[0]
        return (lambda xs: run(outputs, dict(zip(names, xs)))), list(arrays)

    import importlib

    module = {"tflite-runtime": "tflite_runtime.interpreter", "tf.lite": "tensorflow.lite.python.interpreter"}.get(
        model.backend, "ai_edge_litert.interpreter")
    interpreter = importlib.import_module(module).Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    if model.signature is not None:
        runner = interpreter.get_signature_runner(model.signature)
        if getattr(runner, "_subgraph_index", 0) != 0:  # another subgraph: only its runner reaches it
            keys = [s.name for s in model.inputs]
            return (lambda xs: list(runner(**dict(zip(keys, xs))).values())), list(arrays)
        ins, outs = runner.get_input_details(), runner.get_output_details()
        del runner  # a live runner counts as a reference to internal data and blocks resizing
    else:
        ins = {d["name"]: d for d in interpreter.get_input_details()}
        outs = {d["name"]: d for d in interpreter.get_output_details()}
    index_in = [int(ins[s.name]["index"]) for s in model.inputs]
    index_out = [int(outs[s.name]["index"]) for s in model.outputs]
    for index, x in zip(index_in, arrays):
        interpreter.resize_tensor_input(index, list(x.shape), strict=False)
    interpreter.allocate_tensors()
    set_tensor, invoke, get_tensor = interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor
    if single:
        index_x, index_y = index_in[0], index_out[0]

        def run_one(x):
            set_tensor(index_x, x)
            invoke()
            return get_tensor(index_y)

        return run_one, arrays[0]

    def run(xs):
        for index, x in zip(index_in, xs):
            set_tensor(index, x)
        invoke()
        return [get_tensor(index) for index in index_out]

    return run, list(arrays)


def measure_model(path: Path, *, threads: int | None, blocks: int, calls: int, shapes: dict | None = None,
                  inputs: str | None = None, seed: int = 0, shapes_for_any: bool = False) -> dict:
    """p50 per call of the bench's hot call and of the bare loop, interleaved, and their ratio.

    ``shapes_for_any``: ``shapes`` may name inputs of other models too (several --model)."""
    from edgekit.benchmarks.edge_worker import _timed_calls
    from edgekit.benchmarks.tensor_worker import build_feeds, hot_call, tensor_model
    from edgekit.runtime import load
    from edgekit.runtime.tensors import prepare_feeds

    model = tensor_model(load(path, threads=threads))
    if shapes_for_any:
        shapes = {k: v for k, v in (shapes or {}).items() if k in {s.name for s in model.inputs}}
    feeds, _ = build_feeds(model, inputs=inputs, shapes=shapes, seed=seed)
    expected = list(model.run(feeds).values())
    arrays = prepare_feeds(model.inputs, feeds)
    ours, arg = hot_call(model, arrays)
    bare, bare_arg = bare_tensor_loop(path, model, arrays, threads)
    for loop, x in ((ours, arg), (bare, bare_arg)):
        got = loop(x)
        for want, value in zip(expected, got if isinstance(got, list) else [got]):
            np.testing.assert_array_equal(value, want)
    ours_ms, bare_ms = [], []
    for block in range(blocks):  # interleaved, alternating which goes first
        pair = ((ours, arg, ours_ms), (bare, bare_arg, bare_ms))
        for fn, x, samples in pair if block % 2 == 0 else pair[::-1]:
            samples += _timed_calls(fn, x, calls)
    ours_p50, bare_p50 = statistics.median(ours_ms) * 1e3, statistics.median(bare_ms) * 1e3
    return {"model": str(path), "format": model.format, "backend": model.backend,
            "call": "engine.raw_runner()" if not isinstance(arg, list) else "engine.invoke(arrays)",
            "feeds": {k: list(v.shape) for k, v in feeds.items()}, "calls": len(ours_ms),
            "bare_p50_us": bare_p50, "edgekit_p50_us": ours_p50, "ratio": ours_p50 / bare_p50}


def _parse_shape(value: str) -> tuple[str, tuple[int, ...]]:
    name, _, dims = value.rpartition("=")
    try:
        return name, tuple(int(d) for d in dims.split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not NAME=D0,D1,...") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, help="use BUNDLE/exports/{tflite,onnx}-fp32")
    parser.add_argument("--tflite", type=Path)
    parser.add_argument("--onnx", type=Path)
    parser.add_argument("--model", type=Path, action="append", default=[], help="any model file (repeatable)")
    parser.add_argument("--shape", type=_parse_shape, action="append", default=[], help="--model: NAME=D0,D1,... (repeatable)")
    parser.add_argument("--inputs", default=None, help="--model: .npz of arrays named like the inputs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--blocks", type=int, default=31)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    paths = [p for p in (args.tflite, args.onnx) if p]
    if args.bundle:
        paths += [p for p in (args.bundle / "exports" / "tflite-fp32" / "model.tflite",
                              args.bundle / "exports" / "onnx-fp32" / "model.onnx") if p.is_file()]
    if not paths and not args.model:
        parser.error("give --model FILE, or --bundle or --tflite/--onnx")
    results = [measure(p, threads=args.threads, blocks=args.blocks, calls=args.calls) for p in paths]
    files = [measure_model(p, threads=args.threads, blocks=args.blocks, calls=args.calls, shapes=dict(args.shape),
                           inputs=args.inputs, shapes_for_any=len(args.model) > 1) for p in args.model]
    if args.json:
        print(json.dumps(results + files, indent=2))
        return
    if results:
        print(f"{'model':<34} {'backend':<15} {'raw µs/call':>12} {'edgekit µs/call':>16} {'ratio':>7}")
        for r in results:
            name = f"{Path(r['model']).parent.name}/{Path(r['model']).name}"
            print(f"{name:<34} {r['backend']:<15} {r['raw_us']:>12.2f} {r['edgekit_us']:>16.2f} {r['ratio']:>7.2f}")
        print(f"(batch 1, {args.threads} thread(s), median of {args.blocks} interleaved blocks of {args.calls} calls; "
              "target ratio <= 1.5)")
    if files:
        print(f"{'model file':<28} {'backend':<15} {'edgekit call':<22} {'bare p50 µs':>12} {'edgekit p50 µs':>15} {'ratio':>7}")
        for r in files:
            print(f"{Path(r['model']).name:<28} {r['backend']:<15} {r['call']:<22} {r['bare_p50_us']:>12.2f} "
                  f"{r['edgekit_p50_us']:>15.2f} {r['ratio']:>7.2f}")
        print(f"(feeds {', '.join(str(r['feeds']) for r in files)}; {args.threads} thread(s); p50 of "
              f"{args.blocks} x {args.calls} individually timed calls each, interleaved blocks; target ratio <= 1.25)")


if __name__ == "__main__":
    main()
