"""Shared fixtures for the reliability suite: small models trained once per session, and a
runner that pushes many hostile inputs through one child process per batch.

Models: two scikit-learn bundles (auto-mpg SVR regression; a synthetic classification
table with a string category and non-ASCII column names) exported to ONNX, and one
small Keras MLP exported to TFLite (fp32 and int8) -- the only way to get a real .tflite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
WORKER = HERE / "fuzz_worker.py"
PYTHON = sys.executable
EDGEKIT = str(Path(PYTHON).with_name("edgekit"))

# Quiet native/TensorFlow logs in every child process.
CHILD_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0", "EDGEKIT_PROGRESS": "0"}
CHILD_ENV.pop("EDGEKIT_DEBUG", None)


# --------------------------------------------------------------------------- case runner
@dataclass
class CaseResults:
    results: dict[str, dict]
    workers: int  # child processes used (1 + one per crash or hang)

    def __getitem__(self, case_id: str) -> dict:
        return self.results[case_id]

    def outcomes(self, ids=None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for case_id, result in self.results.items():
            if ids is None or case_id in ids:
                key = result["outcome"] if result["outcome"] != "refused" else f"refused:{result['error']}"
                counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))

    def bad(self, allowed=("refused", "predicted", "loaded", "cli")) -> dict[str, dict]:
        return {k: v for k, v in self.results.items() if v["outcome"] not in allowed}


def run_cases(cases: list[dict], tmp: Path, *, rows=None, case_timeout: float = 60.0) -> CaseResults:
    """Run ``cases`` through fuzz_worker.py children, one case at a time.

    A child that dies (signal or non-zero exit) marks its current case ``crash``; one
    that makes no progress for ``case_timeout`` seconds is killed and its case marked
    ``hang``; a fresh child then takes the remaining cases.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    ids = [c["id"] for c in cases]
    if len(set(ids)) != len(ids):
        raise ValueError("case ids must be unique")
    results: dict[str, dict] = {}
    remaining = list(cases)
    workers = 0
    while remaining:
        workers += 1
        spec = tmp / f"cases-{workers}.json"
        out = tmp / f"results-{workers}.jsonl"
        log = tmp / f"worker-{workers}.stderr"
        spec.write_text(json.dumps({"rows": rows, "cases": remaining}), encoding="utf-8")
        out.write_text("", encoding="utf-8")
        with open(log, "wb") as stderr:
            proc = subprocess.Popen(
                [PYTHON, str(WORKER), str(spec), str(out)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=CHILD_ENV,
                start_new_session=True,
            )
        started = None
        last_progress, seen = time.monotonic(), 0
        while True:
            lines = out.read_text(encoding="utf-8").splitlines()
            complete = [json.loads(line) for line in lines if line.endswith("}")]
            if len(complete) > seen:
                seen, last_progress = len(complete), time.monotonic()
            for record in complete:
                if record.get("phase") == "start":
                    started = record["id"]
                else:
                    results[record["id"]] = record
            finished = proc.poll() is not None
            if finished or time.monotonic() - last_progress > case_timeout:
                if not finished:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                # Re-read: the child may have written its last lines as it exited.
                for line in out.read_text(encoding="utf-8").splitlines():
                    if line.endswith("}"):
                        record = json.loads(line)
                        if record.get("phase") != "start":
                            results[record["id"]] = record
                        else:
                            started = record["id"]
                break
            time.sleep(0.02)
        remaining = [c for c in remaining if c["id"] not in results]
        if remaining and started is not None and started not in results:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            kind = "hang" if not finished else "crash"
            results[started] = {"id": started, "outcome": kind, "returncode": proc.returncode, "stderr": tail}
            remaining = [c for c in remaining if c["id"] != started]
        elif remaining:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"fuzz worker failed before starting a case (exit {proc.returncode}):\n{tail}")
    return CaseResults(results, workers)


def one_line_error(result: dict) -> str | None:
    """Why a CLI result is not a clean refusal (non-zero exit, one 'edgekit: error:' line), or None."""
    if result["outcome"] != "cli":
        return f"not a CLI outcome: {result['outcome']}"
    stderr = result["stderr"]
    if result.get("escaped"):
        return f"{result['escaped']} escaped main()"
    if result["exit"] in (0, None):
        return f"exit {result['exit']}"
    if "Traceback" in stderr:
        return "traceback on stderr"
    lines = [line for line in stderr.splitlines() if line.startswith("edgekit:")]
    if len(lines) != 1 or not lines[0].startswith("edgekit: error: "):
        return f"expected one 'edgekit: error:' line, got {lines}"
    return None


def run_cli(args: list[str], *, timeout: float = 120, cwd=None) -> subprocess.CompletedProcess:
    """The real console script in a fresh process."""
    return subprocess.run(
        [EDGEKIT, *args], capture_output=True, text=True, timeout=timeout, env=CHILD_ENV, cwd=cwd, check=False
    )


# --------------------------------------------------------------------------- models
@dataclass
class Exported:
    """A bundle and one export of it, with test rows and the export's own predictions."""

    bundle: Path
    model: Path  # the export file, beside its manifest.json sidecar
    rows: list[dict]
    frame: pd.DataFrame  # the same rows as a frame (features only)
    values: list  # export predictions on rows (regression values or labels)
    probabilities: np.ndarray | None


def _export(bundle: Path, out: Path, fmt: str, quantizations: tuple[str, ...]) -> Path:
    from edgekit.convert import ConvertOptions, convert

    convert(
        bundle,
        out,
        ConvertOptions(formats=(fmt,), quantizations=quantizations, max_degradation=50.0),
        show_progress=False,
    )
    return out


def _exported(bundle: Path, model: Path, n_rows: int = 8) -> Exported:
    from edgekit.runtime import load
    from edgekit.train import load_bundle

    loaded = load_bundle(bundle)
    test = loaded.split("test")
    names = loaded.card.schema.names
    frame = test[names].head(n_rows).reset_index(drop=True)
    rows = [
        {
            k: (None if isinstance(v, float) and np.isnan(v) else (v.item() if hasattr(v, "item") else v))
            for k, v in row.items()
        }
        for row in frame.to_dict("records")
    ]
    prediction = load(model).predict(rows)
    return Exported(bundle, model, rows, frame, prediction.values.tolist(), prediction.probabilities)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def svm_bundle(models_dir) -> Path:
    from edgekit.train import TrainConfig, train

    path = models_dir / "mpg-svm"
    train("auto-mpg", TrainConfig(target="mpg", models=("svm",), quick=True, cv=3), n_jobs=1, show_progress=False).save(
        path
    )
    return path


@pytest.fixture(scope="session")
def svm_onnx(svm_bundle, models_dir) -> Exported:
    out = _export(svm_bundle, models_dir / "mpg-svm-exports", "onnx", ("fp32",))
    return _exported(svm_bundle, out / "onnx-fp32" / "model.onnx")


def classification_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A small table whose column names are not ASCII and one feature is a string category."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["rouge", "vert", "bleu"], n)
    size = rng.normal(10, 3, n).round(2)
    weight = rng.normal(50, 10, n).round(1)
    score = size + (colour == "rouge") * 4 - (colour == "bleu") * 3 + rng.normal(0, 1.0, n)
    label = np.where(score > 12, "groß", np.where(score > 8, "mittel", "klein"))
    frame = pd.DataFrame({"größe_cm": size, "Gewicht (kg)": weight, "couleur": colour, "品質": label})
    frame.loc[rng.choice(n, 10, replace=False), "Gewicht (kg)"] = np.nan  # exercised by imputation
    return frame


@pytest.fixture(scope="session")
def clf_bundle(models_dir) -> Path:
    from edgekit.train import TrainConfig, train

    data = models_dir / "quality.csv"
    classification_frame().to_csv(data, index=False)
    path = models_dir / "quality-linear"
    train(
        str(data), TrainConfig(target="品質", models=("linear",), quick=True, cv=3), n_jobs=1, show_progress=False
    ).save(path)
    return path


@pytest.fixture(scope="session")
def clf_onnx(clf_bundle, models_dir) -> Exported:
    out = _export(clf_bundle, models_dir / "quality-linear-exports", "onnx", ("fp32",))
    return _exported(clf_bundle, out / "onnx-fp32" / "model.onnx")


@pytest.fixture(scope="session")
def nn_bundle(models_dir) -> Path:
    """The one Keras model of the suite (~15 s): needed for real .tflite and .keras files."""
    from edgekit.train import TrainConfig, train

    path = models_dir / "mpg-nn"
    train("auto-mpg", TrainConfig(target="mpg", models=("nn",), quick=True, cv=2), n_jobs=1, show_progress=False).save(
        path
    )
    return path


@pytest.fixture(scope="session")
def nn_exports(nn_bundle, models_dir) -> Path:
    return _export(nn_bundle, models_dir / "mpg-nn-exports", "tflite", ("fp32", "int8"))


@pytest.fixture(scope="session")
def nn_tflite(nn_bundle, nn_exports) -> Exported:
    return _exported(nn_bundle, nn_exports / "tflite-fp32" / "model.tflite")


@pytest.fixture(scope="session")
def nn_tflite_int8(nn_bundle, nn_exports) -> Exported:
    return _exported(nn_bundle, nn_exports / "tflite-int8" / "model.tflite")


# --------------------------------------------------------------------------- files
def materialize(
    root: Path,
    variants: list[tuple[str, bytes]],
    filename: str,
    *,
    sidecar: Path | None = None,
    extra: dict[str, Path] | None = None,
) -> list[tuple[str, Path]]:
    """Write each variant as ``root/<name>/<filename>`` (with a copy of ``sidecar`` as
    manifest.json beside it when given); return [(name, path)]."""
    import shutil

    written = []
    for name, content in variants:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / filename).write_bytes(content)
        if sidecar is not None:
            shutil.copyfile(sidecar, folder / "manifest.json")
        for target, source in (extra or {}).items():
            shutil.copyfile(source, folder / target)
        written.append((name, folder / filename))
    return written


def load_helper(name: str):
    """Import a helper module of this folder (tests use --import-mode=importlib)."""
    import importlib.util

    module_name = f"edgekit_reliability_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def mutations():
    return load_helper("mutations")


@pytest.fixture(scope="session")
def helpers():
    """The runner and checks above, for test modules (which cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        run_cases=run_cases,
        one_line_error=one_line_error,
        run_cli=run_cli,
        materialize=materialize,
        PYTHON=PYTHON,
        EDGEKIT=EDGEKIT,
        CHILD_ENV=CHILD_ENV,
        HERE=HERE,
    )


# --------------------------------------------------------------------------- summary
_SUMMARY: list[str] = []


@pytest.fixture(scope="session")
def summary():
    """Tests append one line of counts each; printed at the end of the run."""
    return _SUMMARY


def pytest_terminal_summary(terminalreporter):
    if _SUMMARY:
        terminalreporter.section("reliability: cases tried and how they ended")
        for line in _SUMMARY:
            terminalreporter.write_line(line)
