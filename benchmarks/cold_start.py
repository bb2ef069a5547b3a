"""Cold start of the edgekit runtime against a bare LiteRT / ONNX Runtime process.

    python -m edgekit.benchmarks.cold_start --model BUNDLE/exports/tflite-fp32/model.tflite --test BUNDLE/data/test.csv

Each trial starts two fresh interpreters, alternating which goes first: one runs
``from edgekit.runtime import load; load(path).predict([row])``, the other does the same
with the backend alone (``Interpreter(model_path) … invoke`` or ``InferenceSession.run``)
on the same row already encoded as floats. Each reports wall time from the parent's spawn
to its first prediction and its peak RSS; the medians and ratios are printed side by side.
Targets: at most 1.5x the wall time and at most 15 MB more peak RSS than the bare process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

_PRELUDE = """
import json, resource, sys, time
t0 = float(sys.argv[1]); path = sys.argv[2]; row = json.loads(sys.argv[3]); x = json.loads(sys.argv[4])
"""
_EPILOGUE = """
ms = (time.time() - t0) * 1e3
# VmHWM: ru_maxrss survives exec on Linux and would include the parent's size.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
rss = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"ms": ms, "rss_mb": rss}))
"""
EDGEKIT = _PRELUDE + """
from edgekit.runtime import load
load(path).predict([row])
""" + _EPILOGUE
BARE_LITERT = _PRELUDE + """
import numpy as np
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path=path); it.allocate_tensors()
it.set_tensor(it.get_input_details()[0]["index"], np.asarray([x], dtype=np.float32)); it.invoke()
it.get_tensor(it.get_output_details()[0]["index"])
""" + _EPILOGUE
BARE_ORT = _PRELUDE + """
import numpy as np
import onnxruntime as ort
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
names = [i.name for i in session.get_inputs()]
if len(names) == 1:
    feeds = {names[0]: np.asarray([x], dtype=np.float32)}
else:
    feeds = {n: np.asarray([[v]], dtype=np.float32) for n, v in zip(names, x)}
session.run(None, feeds)
""" + _EPILOGUE


def _run(script: str, path: Path, row: dict, x: list) -> dict:
    command = [sys.executable, "-c", script, repr(time.time()), str(path), json.dumps(row), json.dumps(x)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def first_test_row(model_path: Path, test_csv: Path) -> tuple[dict, list[float]]:
    """The first test row as the runtime takes it (dict) and as the bare backend takes it."""
    from edgekit.benchmarks.edge import first_row
    from edgekit.runtime import read_manifest
    from edgekit.runtime.inputs import to_columns, to_matrix

    schema = read_manifest(model_path).schema
    row = first_row(test_csv, schema.names)
    x = to_matrix(to_columns([row], schema), schema)[0]
    if any(f.is_string for f in schema):
        raise SystemExit("the bare comparison needs an all-numeric model")
    return row, [float(v) for v in x]


def measure(model_path: Path, test_csv: Path, trials: int) -> dict:
    bare_script = BARE_LITERT if model_path.suffix == ".tflite" else BARE_ORT
    row, x = first_test_row(model_path, test_csv)
    ours, bare = [], []
    for trial in range(trials):
        pair = [("ours", EDGEKIT), ("bare", bare_script)]
        for name, script in pair if trial % 2 == 0 else reversed(pair):
            (ours if name == "ours" else bare).append(_run(script, model_path, row, x))
    median = {key: {"ms": statistics.median(r["ms"] for r in runs), "rss_mb": statistics.median(r["rss_mb"] for r in runs)}
              for key, runs in (("edgekit", ours), ("bare", bare))}
    return {
        "model": str(model_path), "trials": trials, **median,
        "time_ratio": median["edgekit"]["ms"] / median["bare"]["ms"],
        "rss_delta_mb": median["edgekit"]["rss_mb"] - median["bare"]["rss_mb"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True, help="a CSV with the model's features (e.g. BUNDLE/data/test.csv)")
    parser.add_argument("--trials", type=int, default=9)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.model, args.test, args.trials)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    backend = "ai-edge-litert" if args.model.suffix == ".tflite" else "onnxruntime"
    print(f"cold start (spawn → import → load → first prediction), median of {args.trials} fresh processes each")
    print(f"{'':<18}{'wall ms':>10}{'peak RSS MB':>14}")
    print(f"{'edgekit runtime':<18}{result['edgekit']['ms']:>10.1f}{result['edgekit']['rss_mb']:>14.1f}")
    print(f"{'bare ' + backend:<18}{result['bare']['ms']:>10.1f}{result['bare']['rss_mb']:>14.1f}")
    print(f"ratio {result['time_ratio']:.2f}x wall time (target <= 1.5), {result['rss_delta_mb']:+.1f} MB peak RSS (target <= +15)")


if __name__ == "__main__":
    main()
