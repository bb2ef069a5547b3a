"""Shared fixtures: small real bundles and their exports, built once per test session.

Each fixture trains a real model on bundled data (quick search spaces, few folds) and
converts it with the real converters, so tests exercise the same code paths users do.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # pytest keeps only the newest three /tmp/pytest-of-USER/pytest-N folders and deletes
    # older ones at start-up, so concurrent runs (two developers, CI beside a benchmark)
    # delete each other's fixtures mid-run. Each run gets its own folder instead.
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        import tempfile

        config.option.basetemp = os.path.join(tempfile.gettempdir(), f"edgekit-tests-{os.getpid()}")


def pytest_unconfigure(config):
    import shutil
    import tempfile

    ours = os.path.join(tempfile.gettempdir(), f"edgekit-tests-{os.getpid()}")
    if str(config.option.basetemp) == ours and not os.environ.get("EDGEKIT_KEEP_TEST_FILES"):
        shutil.rmtree(ours, ignore_errors=True)


@dataclass(frozen=True)
class Built:
    bundle: Path
    exports: Path

    def export(self, name: str) -> Path:
        folder = self.exports / name
        return next(folder.glob("model.*"))


def build(root: Path, data, target: str, *, models: tuple[str, ...], cv: int = 2, task: str | None = None,
          convert: bool = True, **convert_options) -> Built:
    from edgekit.convert import ConvertOptions
    from edgekit.convert import convert as run_convert
    from edgekit.train import TrainConfig, train

    config = TrainConfig(target=target, models=models, quick=True, cv=cv, task=task)
    bundle = train(data, config, n_jobs=1, show_progress=False).save(root / "bundle")
    exports = root / "bundle" / "exports"
    if convert:
        run_convert(bundle, exports, ConvertOptions(**convert_options), show_progress=False)
    return Built(bundle, exports)


BARE_BACKEND = r"""
import json, sys
import numpy as np
path, x_path, out_path = sys.argv[1:4]
x = np.load(x_path)
if path.endswith(".tflite"):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=path)
    it.resize_tensor_input(it.get_input_details()[0]["index"], list(x.shape)); it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x); it.invoke()
    y = it.get_tensor(it.get_output_details()[0]["index"])
else:
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feeds = {"x": x} if names == ["x"] else {n: x[:, i:i + 1] for i, n in enumerate(names)}
    y = session.run(None, feeds)[0]
np.save(out_path, np.ravel(y))
print(json.dumps(sorted(m for m in ("edgekit", "tensorflow", "keras", "sklearn") if m in sys.modules)))
"""


@pytest.fixture(scope="session")
def bare_backend(tmp_path_factory):
    """Run an export in a fresh process that imports only its backend (ai-edge-litert or
    onnxruntime) on a float32 matrix: returns (outputs, heavy modules that were imported)."""
    import json
    import subprocess
    import sys

    import numpy as np

    folder = tmp_path_factory.mktemp("bare")

    def run(model: Path, x):
        x_path, out_path = folder / "x.npy", folder / "y.npy"
        np.save(x_path, np.asarray(x, dtype=np.float32))
        done = subprocess.run([sys.executable, "-c", BARE_BACKEND, str(model), str(x_path), str(out_path)],
                              capture_output=True, text=True, check=True)
        return np.load(out_path), json.loads(done.stdout.strip().splitlines()[-1])

    return run


@pytest.fixture(scope="session")
def auto_mpg_csv(tmp_path_factory) -> Path:
    """Auto MPG with a string feature (the maker, first word of car_name) for string paths."""
    from edgekit.train import load_dataset

    frame = load_dataset("auto-mpg").frame.copy()
    frame["maker"] = frame.pop("car_name").str.split().str[0]
    path = tmp_path_factory.mktemp("data") / "auto_mpg_maker.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def mpg_svm(tmp_path_factory) -> Built:
    """Auto MPG, SVM (scikit-learn -> ONNX, columns layout, numeric features)."""
    return build(tmp_path_factory.mktemp("mpg_svm"), "auto-mpg", "mpg", models=("svm",))


@pytest.fixture(scope="session")
def mpg_nn(tmp_path_factory) -> Built:
    """Auto MPG, Keras MLP -> TFLite fp32/fp16/dynamic/int8 and ONNX fp32/dynamic/int8."""
    return build(tmp_path_factory.mktemp("mpg_nn"), "auto-mpg", "mpg", models=("nn",))


@pytest.fixture(scope="session")
def digits_nn(tmp_path_factory) -> Built:
    """Digits (64 pixel columns, 10 classes), Keras MLP; not converted (tests pick the exports)."""
    return build(tmp_path_factory.mktemp("digits_nn"), "digits", "target", models=("nn",), convert=False)


@pytest.fixture(scope="session")
def iris_linear(tmp_path_factory) -> Built:
    """Iris, logistic regression (multiclass classification, ONNX label + probabilities)."""
    return build(tmp_path_factory.mktemp("iris"), "iris", "target", models=("linear",))


@pytest.fixture(scope="session")
def maker_rf(tmp_path_factory, auto_mpg_csv) -> Built:
    """Auto MPG with a string categorical, random forest (ONNX string input)."""
    return build(tmp_path_factory.mktemp("maker_rf"), auto_mpg_csv, "mpg", models=("rf",))


@pytest.fixture(scope="session")
def maker_nn(tmp_path_factory, auto_mpg_csv) -> Built:
    """Auto MPG with a string categorical, Keras MLP (strings index-coded by the runtime)."""
    return build(tmp_path_factory.mktemp("maker_nn"), auto_mpg_csv, "mpg", models=("nn",), formats=("tflite",),
                 quantizations=("fp32", "int8"))


def _foreign_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("edgekit_tests_foreign_models", Path(__file__).with_name("foreign_models.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def foreign(tmp_path_factory):
    """Models built with TFLiteConverter, onnx.helper and plain Keras (tests/foreign_models.py)."""
    return _foreign_module().build_all(tmp_path_factory.mktemp("foreign"))
