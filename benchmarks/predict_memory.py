"""Peak memory of ``edgekit predict`` on a large CSV: constant memory, whatever the size.

    python -m edgekit.benchmarks.predict_memory --model M.onnx --test BUNDLE/data/test.csv --rows 1000000

Writes a CSV of ``--rows`` rows (the test rows repeated), runs ``edgekit predict`` on it in
a fresh process, and prints the child's peak RSS (VmHWM), wall time, rows/s, and checks
that the output has one prediction per input row. Target: peak RSS under 200 MB for
one million rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys
from edgekit.cli.main import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code or 0
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print(json.dumps({"code": code, "peak_rss_mb": int(hwm[0].split()[1]) / 1024 if hwm else None}), file=sys.stderr)
"""


def write_rows(source: Path, target: Path, rows: int, drop: list[str]) -> None:
    with open(source, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        body = list(reader)
    keep = [i for i, name in enumerate(header) if name not in drop]
    with open(target, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([header[i] for i in keep])
        for n in range(rows):
            row = body[n % len(body)]
            writer.writerow([row[i] for i in keep])


def measure(model: Path, test_csv: Path, rows: int, batch_size: int) -> dict:
    from edgekit.runtime import read_manifest

    manifest = read_manifest(model)
    with tempfile.TemporaryDirectory(prefix="edgekit-predict-mem-") as tmp:
        data, out = Path(tmp) / "rows.csv", Path(tmp) / "preds.csv"
        write_rows(test_csv, data, rows, drop=[manifest.target])
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, "predict", str(model), str(data), "--out", str(out),
                               "--batch-size", str(batch_size)], capture_output=True, text=True)
        seconds = time.perf_counter() - started
        child = json.loads(done.stderr.strip().splitlines()[-1])
        if child["code"] != 0 or not out.is_file():
            raise RuntimeError(f"edgekit predict failed: {done.stderr.strip().splitlines()[:-1] or child}")
        with open(out, encoding="utf-8") as handle:
            predictions = sum(1 for _ in handle) - 1
        return {"rows": rows, "predictions": predictions, "exit_code": child["code"], "peak_rss_mb": child["peak_rss_mb"],
                "seconds": seconds, "rows_per_s": rows / seconds, "input_mb": data.stat().st_size / 2**20,
                "batch_size": batch_size}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True, help="CSV whose rows are repeated (e.g. BUNDLE/data/test.csv)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=4096)
    args = parser.parse_args(argv)
    r = measure(args.model, args.test, args.rows, args.batch_size)
    print(f"edgekit predict on {r['rows']:,} rows ({r['input_mb']:.0f} MB CSV, batch {r['batch_size']}): "
          f"peak RSS {r['peak_rss_mb']:.0f} MB (target < 200), {r['seconds']:.1f} s, {r['rows_per_s']:,.0f} rows/s, "
          f"{r['predictions']:,} predictions, exit {r['exit_code']}")


if __name__ == "__main__":
    main()
