"""Tiny bundles trained once per session, and servers on free loopback ports.

References come from ``bundle.source_model().predict_frame(bundle.split("test"))``: the
bundle's own model on its own test split, independent of the server's code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from edgekit.serve import create_app, load_predictor, serve_in_thread


@dataclass
class Served:
    """A bundle with its test rows and the source model's answers on them."""

    path: Path
    schema: Any
    task: str
    labels: list | None
    frame: pd.DataFrame  # test split, features only
    expected: np.ndarray  # regression values [n] or probabilities [n, k]

    @property
    def names(self) -> list[str]:
        return self.schema.names

    def expected_labels(self) -> list:
        return [self.labels[i] for i in np.argmax(self.expected, axis=1)]

    def rows(self, index) -> list[dict]:
        """Test rows as JSON-ready dicts (missing values as null)."""
        part = self.frame.iloc[index]
        return [{k: _plain(v) for k, v in row.items()} for row in part.to_dict("records")]

    def column(self, name: str, index=slice(None)) -> list:
        return [_plain(v) for v in self.frame[name].iloc[index].tolist()]


def _plain(value):
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and np.isnan(value) else value


def _served(path: Path) -> Served:
    from edgekit.train import load_bundle

    bundle = load_bundle(path)
    test = bundle.split("test")
    expected = bundle.source_model().predict_frame(test)
    schema = bundle.card.schema
    return Served(path, schema, bundle.card.task, bundle.card.labels, test[schema.names].reset_index(drop=True), expected)


def _train(data, target: str, model: str, out: Path) -> Path:
    from edgekit.train import TrainConfig, train

    result = train(data, TrainConfig(target=target, models=(model,), quick=True, cv=3), n_jobs=1, show_progress=False)
    return result.save(out)


@pytest.fixture(scope="session")
def mpg(tmp_path_factory) -> Served:
    """scikit-learn SVR regression on Auto MPG (7 numeric features)."""
    return _served(_train("auto-mpg", "mpg", "svm", tmp_path_factory.mktemp("mpg") / "auto-mpg"))


@pytest.fixture(scope="session")
def iris(tmp_path_factory) -> Served:
    """Logistic regression on iris: integer labels 0, 1, 2."""
    return _served(_train("iris", "target", "linear", tmp_path_factory.mktemp("iris") / "iris"))


@pytest.fixture(scope="session")
def origin_text(tmp_path_factory) -> Served:
    """Auto MPG classifying ``origin`` as text: text labels come back as a BYTES output."""
    raw = pd.read_csv(resources.files("edgekit.train").joinpath("data/auto_mpg.csv"))
    raw["origin"] = raw["origin"].map({1: "usa", 2: "europe", 3: "japan"})
    folder = tmp_path_factory.mktemp("origin")
    raw.to_csv(folder / "cars.csv", index=False)
    return _served(_train(str(folder / "cars.csv"), "origin", "linear", folder / "cars-origin"))


@pytest.fixture(scope="session")
def mpg_price_text(tmp_path_factory) -> Served:
    """Auto MPG regression whose ``origin`` feature is text (BYTES in V2)."""
    raw = pd.read_csv(resources.files("edgekit.train").joinpath("data/auto_mpg.csv"))
    raw["origin"] = raw["origin"].map({1: "usa", 2: "europe", 3: "japan"})
    folder = tmp_path_factory.mktemp("mpgtext")
    raw.to_csv(folder / "cars.csv", index=False)
    return _served(_train(str(folder / "cars.csv"), "mpg", "linear", folder / "cars-mpg"))


def _start(served: Served, **options):
    app = create_app(load_predictor(served.path), **options)
    return serve_in_thread(app)


@pytest.fixture(scope="session")
def mpg_server(mpg):
    with _start(mpg) as server:
        yield server


@pytest.fixture(scope="session")
def iris_server(iris):
    with _start(iris) as server:
        yield server


@pytest.fixture(scope="session")
def origin_server(origin_text):
    with _start(origin_text) as server:
        yield server


@pytest.fixture(scope="session")
def mpg_text_server(mpg_price_text):
    with _start(mpg_price_text) as server:
        yield server


@pytest.fixture
def start_server():
    """Start a fresh server for ``served`` with create_app options; stopped after the test."""
    started = []

    def start(served: Served, **options):
        server = _start(served, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def triton_inputs(served: Served, frame: pd.DataFrame, *, binary: bool = True):
    """One tritonclient InferInput per feature, [n, 1]: FP32, or BYTES for text features."""
    import tritonclient.http as httpclient

    inputs = []
    for feature in served.schema:
        column = frame[feature.name].to_numpy()
        if feature.is_string:
            array = np.asarray([str(v) for v in column], dtype=object).reshape(-1, 1)
            datatype = "BYTES"
        else:
            array = column.astype(np.float32).reshape(-1, 1)
            datatype = "FP32"
        tensor = httpclient.InferInput(feature.name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return inputs


@pytest.fixture
def make_triton_inputs():
    return triton_inputs


def triton_client(server):
    import tritonclient.http as httpclient

    return httpclient.InferenceServerClient(url=server.url.removeprefix("http://"), network_timeout=60.0)


@pytest.fixture
def make_triton_client():
    return triton_client
