"""Per-call overhead of the runtime's hot path against the raw backend loop.

    python -m edgekit.benchmarks.overhead --bundle BUNDLE          # uses BUNDLE/exports
    python -m edgekit.benchmarks.overhead --tflite A.tflite --onnx B.onnx

For each backend, interleaved blocks of batch-1 calls time (a) the raw loop —
``set_tensor``/``invoke``/``get_tensor`` for LiteRT, ``session.run`` with prepared feeds
for ONNX Runtime — and (b) ``Model.predict_array`` on the same array; the medians and
their ratio are printed side by side. Target: ratio <= 1.5.
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, help="use BUNDLE/exports/{tflite,onnx}-fp32")
    parser.add_argument("--tflite", type=Path)
    parser.add_argument("--onnx", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--blocks", type=int, default=31)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    paths = [p for p in (args.tflite, args.onnx) if p]
    if args.bundle:
        paths += [p for p in (args.bundle / "exports" / "tflite-fp32" / "model.tflite",
                              args.bundle / "exports" / "onnx-fp32" / "model.onnx") if p.is_file()]
    if not paths:
        parser.error("give --bundle or --tflite/--onnx")
    results = [measure(p, threads=args.threads, blocks=args.blocks, calls=args.calls) for p in paths]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'model':<34} {'backend':<15} {'raw µs/call':>12} {'edgekit µs/call':>16} {'ratio':>7}")
    for r in results:
        name = f"{Path(r['model']).parent.name}/{Path(r['model']).name}"
        print(f"{name:<34} {r['backend']:<15} {r['raw_us']:>12.2f} {r['edgekit_us']:>16.2f} {r['ratio']:>7.2f}")
    print(f"(batch 1, {args.threads} thread(s), median of {args.blocks} interleaved blocks of {args.calls} calls; target ratio <= 1.5)")


if __name__ == "__main__":
    main()
