"""Kill a save at every filesystem step and report what a reader then finds.

Run as ``python kill_points.py {train|convert} WORKDIR``. The parent trains (or converts)
once to get state A on disk and a different result B in memory, then for every step k of
writing B (each call to os.replace / os.rename / os.fsync / os.mkdir / os.unlink /
shutil.rmtree / the atomic swap) forks a child that writes B and SIGKILLs itself right
after step k. After each kill the parent classifies what is at the output path:
``old`` (a complete A), ``new`` (a complete B), ``missing`` or ``partial``, and lists the
temp folders left beside it. One JSON document on stdout.

Forking after training keeps this fast: each child only writes (or converts).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

CHILD_TIMEOUT = 120.0
FS_CALLS = (
    ("os", "replace"),
    ("os", "rename"),
    ("os", "fsync"),
    ("os", "mkdir"),
    ("os", "unlink"),
    ("shutil", "rmtree"),
    ("edgekit.runtime.io", "_exchange"),
)


def file_set(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def bundle_state(out: Path, expected_files: set[str]) -> str | None:
    """'A' or 'B' (by the winner recorded in a complete bundle), or None if incomplete."""
    from edgekit.train import load_bundle

    try:
        if file_set(out) != expected_files:
            return None
        return {"svm": "A", "linear": "B"}.get(load_bundle(out).card.winner["name"])
    except Exception:  # noqa: BLE001 - anything unreadable is "partial"
        return None


def exports_state(out: Path, expected_files: set[str]) -> str | None:
    """'A' or 'B' (by the recorded --max-degradation) if complete and every export matches
    its manifest's sha256, else None. No onnxruntime here: the parent must stay fork-safe."""
    try:
        if file_set(out) != expected_files:
            return None
        report = json.loads((out / "conversion.json").read_text(encoding="utf-8"))
        for manifest_path in out.rglob("manifest.json"):
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            digest = hashlib.sha256((manifest_path.parent / manifest["file"]).read_bytes()).hexdigest()
            if digest != manifest["sha256"]:
                return None
        return {2.0: "A", 3.0: "B"}.get(report["options"]["max_degradation"])
    except Exception:  # noqa: BLE001
        return None


def install_killer(kill_at: int, counter_file: Path | None) -> None:
    import importlib

    count = [0]

    def wrap(module, name):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            count[0] += 1
            if counter_file is not None:
                counter_file.write_text(str(count[0]))
            if count[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        setattr(module, name, wrapper)

    for module_name, name in FS_CALLS:
        module = importlib.import_module(module_name)
        if hasattr(module, name):
            wrap(module, name)


def run_child(write, kill_at: int, counter_file: Path | None = None) -> int:
    """Fork; the child installs the killer and writes. Returns the child's wait status."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            install_killer(kill_at, counter_file)
            write()
        except BaseException:  # noqa: BLE001 - report, never return into the parent's code
            os._exit(3)
        os._exit(0)
    deadline = time.monotonic() + CHILD_TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:  # a hung child: report it instead of hanging the test
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise SystemExit(f"a child writing step {kill_at} hung for {CHILD_TIMEOUT} s")
        time.sleep(0.01)


def classify(out: Path, state, expected_files: set[str]) -> str:
    if not out.exists():
        return "missing"
    return {"A": "old", "B": "new"}.get(state(out, expected_files) or "", "partial")


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def sweep(out: Path) -> None:
    for name in leftovers(out):
        shutil.rmtree(out.parent / name, ignore_errors=True)


def experiment(out: Path, write_a, write_b, state) -> list[dict]:
    """For replace (A present) and fresh (nothing present): kill B's write at every step."""
    records = []
    counter = out.parent / f"{out.name}-steps.txt"
    for scenario in ("replace", "fresh"):
        shutil.rmtree(out, ignore_errors=True)
        sweep(out)
        snapshot = out.parent / f"{out.name}-A"
        shutil.rmtree(snapshot, ignore_errors=True)
        if scenario == "replace":
            run_child(write_a, kill_at=-1)
            shutil.copytree(out, snapshot)  # restoring A from a copy is faster than writing it again
        # A full run of B in a child (the killer never fires) counts the steps.
        if os.waitstatus_to_exitcode(run_child(write_b, kill_at=-1, counter_file=counter)) != 0:
            raise SystemExit("uninterrupted write failed")
        steps = int(counter.read_text())
        expected = file_set(out)
        if state(out, expected) != "B":
            raise SystemExit("the uninterrupted write is not recognised as complete")
        for k in range(1, steps + 1):
            shutil.rmtree(out, ignore_errors=True)
            if scenario == "replace":
                shutil.copytree(snapshot, out)
            sweep(out)
            status = run_child(write_b, kill_at=k)
            records.append(
                {
                    "scenario": scenario,
                    "step": k,
                    "steps": steps,
                    "killed": os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL,
                    "state": classify(out, state, expected),
                    "leftovers": leftovers(out),
                }
            )
        shutil.rmtree(snapshot, ignore_errors=True)
    return records


def main(mode: str, workdir: str) -> None:
    os.environ.setdefault("EDGEKIT_PROGRESS", "0")
    from edgekit.train import TrainConfig, train

    root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(target="mpg", models=("svm",), quick=True, cv=3)
    if mode == "train":
        out = root / "bundle"
        result_a = train("auto-mpg", config, n_jobs=1, show_progress=False)
        result_b = train(
            "auto-mpg", TrainConfig(target="mpg", models=("linear",), quick=True, cv=3), n_jobs=1, show_progress=False
        )
        records = experiment(
            out, lambda: result_a.save(out, replace=True), lambda: result_b.save(out, replace=True), bundle_state
        )
    elif mode == "convert":
        # Imported (not run) here so each forked child only converts; no session or thread
        # pool is started in this process, which keeps forking safe.
        import onnxruntime  # noqa: F401
        import skl2onnx  # noqa: F401
        import skops.io  # noqa: F401
        from edgekit.convert import (
            ConvertOptions,
            convert,
            sklearn_onnx,  # noqa: F401
        )

        bundle = root / "source-bundle"
        if not bundle.exists():
            # Trained in a child too: the parent must not start onnxruntime/BLAS threads before forking.
            run_child(lambda: train("auto-mpg", config, n_jobs=1, show_progress=False).save(bundle), kill_at=-1)
        out = root / "exports"
        options_a = ConvertOptions(formats=("onnx",), quantizations=("fp32",), max_degradation=2.0)
        options_b = ConvertOptions(formats=("onnx",), quantizations=("fp32",), max_degradation=3.0)
        records = experiment(
            out,
            lambda: convert(bundle, out, options_a, force=True, show_progress=False),
            lambda: convert(bundle, out, options_b, force=True, show_progress=False),
            exports_state,
        )
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(records))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
