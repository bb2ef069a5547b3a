"""Shared fixtures: small fake bundles for the registry, and (slow, once per session)
real Auto MPG and iris bundles with ONNX exports and prediction logs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest


def make_fake_bundle(folder: Path, *, rmse: float = 2.0, data_sha256: str = "d" * 64, payload: bytes = b"model") -> Path:
    """A bundle folder with a minimal model card: enough for the registry, not for loading."""
    folder.mkdir(parents=True)
    card = {
        "task": "regression", "target": "mpg", "winner": {"name": "svm", "framework": "sklearn"},
        "metric": {"name": "rmse", "greater_is_better": False},
        "test_metrics": {"rmse": rmse, "mae": rmse * 0.8}, "data": {"sha256": data_sha256},
    }
    (folder / "model_card.json").write_text(json.dumps(card))
    (folder / "model.skops").write_bytes(payload)
    (folder / "data").mkdir()
    (folder / "data" / "train.csv").write_text("a,mpg\n1,2\n")
    return folder


@pytest.fixture
def fake_bundle(tmp_path):
    counter = iter(range(1000))

    def make(**kwargs) -> Path:
        return make_fake_bundle(tmp_path / "bundles" / f"b{next(counter)}", **kwargs)

    return make


def log_rows(export: Path, log: Path, frame: pd.DataFrame, names: list[str]) -> list[str]:
    """Predict ``frame`` one request at a time, as a device would, logging every row."""
    from edgekit.runtime import load

    ids = []
    with load(export, log=log) as model:
        for record in frame[names].to_dict("records"):
            ids.extend(model.predict([record]).request_ids)
    return ids


def build_case(root: Path, data: str | Path, target: str, streams: dict[str, pd.DataFrame]) -> SimpleNamespace:
    from edgekit.convert import ConvertOptions, convert
    from edgekit.train import TrainConfig, train

    result = train(data, TrainConfig(target=target, models=("svm",), quick=True, cv=3), n_jobs=1, show_progress=False)
    bundle = result.save(root / "bundle")
    convert(bundle, root / "exports", ConvertOptions(formats=("onnx",), quantizations=("fp32",)), show_progress=False)
    export = root / "exports" / "onnx-fp32" / "model.onnx"
    names = result.card.schema.names
    logs, actuals = {}, {}
    for name, frame in streams.items():
        logs[name] = root / f"{name}.db"
        ids = log_rows(export, logs[name], frame, names)
        actuals[name] = root / f"{name}-actuals.csv"
        pd.DataFrame({"request_id": ids, target: frame[target].to_numpy()}).to_csv(actuals[name], index=False)
    return SimpleNamespace(root=root, bundle=bundle, export=export, logs=logs, actuals=actuals, card=result.card,
                           streams=streams, names=names)


@pytest.fixture(scope="session")
def auto_mpg(tmp_path_factory) -> SimpleNamespace:
    """A model trained on model years 70-76; logs of held-out 70-76 cars and of 77-82 cars."""
    from edgekit.train import load_dataset

    root = tmp_path_factory.mktemp("auto_mpg")
    frame = load_dataset("auto-mpg").frame
    early = frame[frame["model_year"] <= 76]
    held = early.sample(frac=0.35, random_state=0)
    early.drop(held.index).to_csv(root / "years-70-76.csv", index=False)
    late = frame[frame["model_year"] >= 77]
    return build_case(root, root / "years-70-76.csv", "mpg", {"held": held, "late": late})


@pytest.fixture(scope="session")
def iris(tmp_path_factory) -> SimpleNamespace:
    """A classifier; logs of its own test split and of the same rows with longer petals."""
    from edgekit.train import load_bundle

    root = tmp_path_factory.mktemp("iris")
    case = build_case(root, "iris", "target", {})
    test = load_bundle(case.bundle).split("test")
    shifted = test.copy()
    shifted["petal length (cm)"] = shifted["petal length (cm)"] + 2.5
    case.streams = {"test": test, "shifted": shifted}
    for name, rows in case.streams.items():
        case.logs[name] = root / f"{name}.db"
        ids = log_rows(case.export, case.logs[name], rows, case.names)
        case.actuals[name] = root / f"{name}-actuals.csv"
        pd.DataFrame({"request_id": ids, "target": rows["target"].to_numpy()}).to_csv(case.actuals[name], index=False)
    return case



@pytest.fixture
def run_cli(capsys):
    """Run the edgekit CLI in-process: args -> (exit code, stdout, stderr)."""
    from edgekit.cli.main import main

    def run(args) -> tuple[int, str, str]:
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
