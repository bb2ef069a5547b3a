"""SIGKILL during `edgekit train`, `edgekit convert` and `edgekit retrain`: a reader never
sees a half-written bundle, exports or retrain folder, a folder being replaced with --force
stays loadable, and the model registry only lists versions that load.

Two ways in: kill_points.py kills a save right after each of its filesystem steps
(deterministic, every step), and the real console script is killed after random delays.
Temp folders named `.<name>.*.tmp` / `.<name>.*.old` are left behind by a SIGKILL (no
code runs to remove them); the tests count them and check they are the only leftovers.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LEFTOVER = re.compile(r"^\.(bundle|exports|[\w-]+)\.[\w.-]+\.(tmp|old)$")  # .NAME.HOST.PID.RANDOM.tmp


def _kill_points(mode: str, workdir: Path, helpers) -> list[dict]:
    env = {**helpers.CHILD_ENV, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [helpers.PYTHON, str(helpers.HERE / "kill_points.py"), mode, str(workdir)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["train", "convert"])
def test_a_save_killed_after_any_step_leaves_the_old_or_the_new_folder(mode, helpers, tmp_path, summary):
    records = _kill_points(mode, tmp_path, helpers)
    assert records and all(r["killed"] for r in records)
    states: dict[str, int] = {}
    for r in records:
        states[f"{r['scenario']}:{r['state']}"] = states.get(f"{r['scenario']}:{r['state']}", 0) + 1
        allowed = ("old", "new") if r["scenario"] == "replace" else ("missing", "new")
        assert r["state"] in allowed, r
        assert all(LEFTOVER.match(name) for name in r["leftovers"]), r
    last = {s: max(r["step"] for r in records if r["scenario"] == s) for s in ("replace", "fresh")}
    assert all(r["state"] == "new" for r in records if r["step"] == last[r["scenario"]])
    stale = sum(1 for r in records if r["leftovers"])
    summary.append(
        f"kill after every filesystem step of a {mode} save: {len(records)} kills, {states}; "
        f"{stale} left a stale .tmp/.old folder beside the output"
    )


def _bundle_ok(path: Path) -> bool:
    from edgekit.train import load_bundle

    try:
        load_bundle(path)
        return True
    except Exception:  # noqa: BLE001
        return False


def _exports_ok(path: Path) -> bool:
    import hashlib

    from edgekit.runtime import load

    try:
        json.loads((path / "conversion.json").read_text())
        for manifest in path.rglob("manifest.json"):
            data = json.loads(manifest.read_text())
            model = manifest.with_name(data["file"])
            assert hashlib.sha256(model.read_bytes()).hexdigest() == data["sha256"]
            if "rejected" not in model.parts:
                load(model)
        return True
    except Exception:  # noqa: BLE001
        return False


def _run_and_kill(args: list[list[str]], delay: float, helpers, cwd: Path, env: dict) -> list[int]:
    """Start the commands together, SIGKILL whatever still runs after ``delay`` seconds."""
    procs = [
        subprocess.Popen(
            [helpers.EDGEKIT, *a],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for a in args
    ]
    time.sleep(delay)
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return [proc.wait(timeout=60) for proc in procs]


def _retrain_ok(path: Path) -> bool:
    try:
        json.loads((path / "retrain.json").read_text())
        return _bundle_ok(path / "bundle") and _exports_ok(path / "bundle" / "exports")
    except Exception:  # noqa: BLE001
        return False


def _registry_ok(root: Path) -> bool:
    from edgekit.monitor.registry import Registry

    if not root.exists():
        return True
    try:
        return all(_bundle_ok(root / v.path) for v in Registry(root).list())  # (root / absolute = absolute)
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.parametrize("command", ["train", "convert", "retrain"])
def test_the_cli_killed_at_random_moments_never_leaves_a_half_written_folder(
    command, svm_bundle, helpers, tmp_path, summary
):
    bundle = tmp_path / "bundle"
    shutil.copytree(svm_bundle, bundle)
    registry = tmp_path / "registry"
    new_data = Path(__file__).resolve().parents[2] / "examples" / "auto_mpg_77_82.csv"

    def args(out: Path, force: bool, seed: int) -> list[str]:
        extra = ["--force"] if force else []
        if command == "train":
            return ["train", "auto-mpg", "--target", "mpg", "--models", "svm", "--quick", "--cv", "3", "--jobs", "1",
                    "--seed", str(seed), "--out", str(out), *extra]  # fmt: skip
        if command == "convert":
            return ["convert", str(bundle), "--to", "onnx", "--out", str(out), "--max-degradation", str(2 + seed),
                    *extra]  # fmt: skip
        return ["retrain", str(bundle), "--data", str(new_data), "--out", str(out), "--quick", "--no-bench",
                "--promote-if", "always", "--registry", str(registry), *extra]  # fmt: skip

    ok = {"train": _bundle_ok, "convert": _exports_ok, "retrain": _retrain_ok}[command]
    # The children's system temp folder, to see what a kill leaves there (and not litter /tmp).
    scratch = tmp_path / "system-tmp"
    scratch.mkdir()
    env = {**helpers.CHILD_ENV, "TMPDIR": str(scratch)}
    existing = tmp_path / "existing"
    started = time.monotonic()
    done = subprocess.run([helpers.EDGEKIT, *args(existing, False, 0)], capture_output=True, text=True, timeout=180,
                          env=env, cwd=tmp_path, check=False)  # fmt: skip
    duration = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert ok(existing)

    rng = random.Random(f"{command}-kills")
    outcomes = {"killed": 0, "finished": 0}
    for i in range(3):
        fresh = tmp_path / f"fresh-{i}"
        # Two processes share the 2 cores, so each runs slower than `duration`: the delays
        # cover start-up, training/conversion and the final write.
        delay = duration * rng.uniform(0.4, 1.8)
        codes = _run_and_kill([args(existing, True, i + 1), args(fresh, False, i + 1)], delay, helpers, tmp_path, env)
        for code in codes:
            outcomes["killed" if code == -signal.SIGKILL else "finished"] += 1
        assert ok(existing), f"{existing} no longer loads after a kill at {delay:.2f}s"
        assert not fresh.exists() or ok(fresh), f"{fresh} is half-written after a kill at {delay:.2f}s"
        assert _registry_ok(registry), f"the registry lists a version that does not load after a kill at {delay:.2f}s"
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert all(LEFTOVER.match(name) for name in leftovers), leftovers
    # Known: `retrain` keeps a scratch copy of the training data in the system temp folder,
    # which a kill leaves behind (reported to its owner); listed here, not failed.
    elsewhere = sorted(p.name for p in scratch.iterdir() if p.name.startswith("edgekit"))
    summary.append(
        f"edgekit {command} SIGKILLed at random moments: 6 runs ({outcomes}), every --out complete or absent, "
        f"--force target always loadable; {len(leftovers)} stale temp folder(s) beside --out: {leftovers}; "
        f"{len(elsewhere)} left in $TMPDIR: {elsewhere}"
    )
