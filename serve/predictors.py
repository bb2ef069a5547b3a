"""One small interface over what can be served: a bundle's source model or an export.

Any other model file (no feature schema) is served as its own tensors by
``edgekit.serve.tensor_predictor.TensorPredictor``; :func:`load_predictor` picks.

``predict_columns`` takes the runtime's validated columns (``edgekit.runtime.inputs.
to_columns``) for a whole batch and returns :class:`Outputs`. Neither implementation is
called from more than one thread at a time: the server runs every call on one worker
thread, which is also what makes a runtime ``Model`` (not thread-safe) safe to serve.
"""

from __future__ import annotations

import json
import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgekit.runtime.errors import ConfigError, ModelLoadError
from edgekit.runtime.inputs import to_columns
from edgekit.runtime.io import file_sha256
from edgekit.runtime.schema import Schema

MODEL_SUFFIXES = (".tflite", ".onnx", ".ort")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
PLATFORMS = {"sklearn": "sklearn", "keras": "keras", "onnx": "onnxruntime_onnx", "ort": "onnxruntime_onnx",
             "tflite": "tflite"}


@dataclass(frozen=True)
class Outputs:
    """Predictions for a batch of rows.

    Regression fills ``prediction`` ([n] float); classification fills ``label`` ([n]
    label values) and, when the model gives them, ``probabilities`` ([n, k]).
    ``request_ids`` are the prediction-log ids of the rows, when logging is on.
    """

    prediction: np.ndarray | None = None
    label: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    request_ids: tuple[str, ...] | None = None

    def __len__(self) -> int:
        first = self.prediction if self.prediction is not None else self.label
        return 0 if first is None else len(first)

    def slice(self, start: int, stop: int) -> "Outputs":
        def part(a):
            return None if a is None else a[start:stop]

        return Outputs(part(self.prediction), part(self.label), part(self.probabilities), part(self.request_ids))


class Predictor(ABC):
    """What the server needs from a model."""

    name: str
    platform: str
    schema: Schema
    task: str
    labels: tuple[Any, ...] | None
    model_id: str  # what the prediction log records: the sha256 of the model file

    @abstractmethod
    def predict_columns(self, columns: Mapping[str, np.ndarray]) -> Outputs:
        """Validated columns (one 1-D array per feature, schema order) -> outputs."""

    @property
    def output_names(self) -> list[str]:
        return ["prediction"] if self.task == "regression" else ["label", "probabilities"]

    @property
    def integer_labels(self) -> bool:
        return bool(self.labels) and all(isinstance(v, int) and not isinstance(v, bool) for v in self.labels)

    def warm_up(self) -> Outputs:
        """One prediction on a plausible row, so the first request pays no start-up cost."""
        return self.predict_columns(to_columns(example_row(self.schema), self.schema))

    def describe(self) -> str:
        return f"{self.name} ({self.platform} {self.task}, {len(self.schema)} features)"

    def close(self) -> None:
        """Release resources; called once, on the worker thread, at shutdown."""


class SourcePredictor(Predictor):
    """A bundle's trained model (scikit-learn pipeline or Keras through its traced graph)."""

    def __init__(self, source, *, name: str, model_id: str = ""):
        self.source = source
        self.name = check_name(name)
        self.platform = PLATFORMS.get(source.framework, source.framework)
        self.schema = source.schema
        self.task = source.task
        self.labels = tuple(source.labels) if source.labels is not None else None
        self.model_id = model_id
        self._label_values = np.asarray(self.labels, dtype=object) if self.labels else None
        self._predict = source.serving_predict()  # no DataFrame per call for a scikit-learn pipeline

    def predict_columns(self, columns: Mapping[str, np.ndarray]) -> Outputs:
        y = self._predict(columns)
        if self.task == "regression":
            return Outputs(prediction=np.asarray(y, dtype=np.float64).reshape(-1))
        probabilities = np.asarray(y, dtype=np.float64)
        return Outputs(label=self._label_values[np.argmax(probabilities, axis=1)], probabilities=probabilities)


class ExportPredictor(Predictor):
    """An exported .tflite/.onnx file through ``edgekit.runtime`` (the on-device code path)."""

    def __init__(self, model, *, name: str):
        self.model = model
        self.name = check_name(name)
        self.platform = PLATFORMS.get(model.format, model.format)
        self.schema = model.schema
        self.task = model.task
        self.labels = tuple(model.labels) if model.labels is not None else None
        self.model_id = model.manifest.sha256 or file_sha256(model.path)
        self._has_probabilities = "probabilities" in model.manifest.outputs

    @property
    def output_names(self) -> list[str]:
        if self.task == "regression":
            return ["prediction"]
        return ["label", "probabilities"] if self._has_probabilities else ["label"]

    def predict_columns(self, columns: Mapping[str, np.ndarray]) -> Outputs:
        prediction = self.model.predict(columns)
        if self.task == "regression":
            return Outputs(prediction=prediction.values)
        return Outputs(label=prediction.values, probabilities=prediction.probabilities)

    def close(self) -> None:
        self.model.close()


def load_predictor(bundle: str | os.PathLike | None = None, export: str | os.PathLike | None = None, *,
                   name: str | None = None, signature: str | None = None, threads: int | None = None):
    """The source model of ``bundle``, or the ``export`` file run through the runtime.

    ``bundle`` may itself be a model file (``edgekit serve MODEL``). An edgekit tabular
    export becomes an :class:`ExportPredictor`; any other .tflite/.onnx/.ort file a
    ``TensorPredictor`` serving its own tensors (``signature`` picks one of a TFLite
    file's signatures, ``threads`` sets the backend's threads). With both a bundle and an
    export, the export is served and the bundle only checked against it (same features
    in the same order), so a stale export is refused instead of answering nonsense.
    """
    bundle, export = model_file_as_export(bundle, export)
    if export is not None:
        from edgekit.runtime import TensorModel, load
        from edgekit.runtime.image_model import ImageModel

        export = Path(export)
        model = load(export, signature=signature, threads=threads)
        if isinstance(model, ImageModel):
            if bundle is not None:
                check_image_export_matches(Path(bundle), model, export)
            from edgekit.serve.image_predictor import from_image_model

            return from_image_model(model, name=name or export.stem)
        if isinstance(model, TensorModel):
            if bundle is not None:
                raise _not_tabular(export, bundle)
            from edgekit.serve.tensor_predictor import TensorPredictor

            return TensorPredictor(model, name=name or export.stem)
        if bundle is not None:
            check_export_matches(Path(bundle), model.schema, export)
        return ExportPredictor(model, name=name or export.stem)
    if bundle is None:
        raise ConfigError("nothing to serve: give a bundle folder or a model file")
    if signature is not None or threads is not None:
        raise ConfigError("--signature and --threads apply to model files, not to a bundle's source model",
                          hint="serve an export: edgekit serve BUNDLE --export FILE")
    if _is_image_bundle(Path(bundle)):
        from edgekit.serve.image_predictor import from_image_bundle

        return from_image_bundle(bundle, name=name)
    from edgekit.train import load_bundle

    loaded = load_bundle(bundle)
    return SourcePredictor(loaded.source_model(), name=name or loaded.path.name, model_id=loaded.model_sha256)


def model_file_as_export(bundle: str | os.PathLike | None, export: str | os.PathLike | None):
    """``(bundle, export)`` with a model file given as the bundle moved to ``export`` (a
    missing path with a model file's extension too, so that the error names the file)."""
    if bundle is not None and (Path(bundle).is_file() or
                               (not Path(bundle).exists() and Path(bundle).suffix.lower() in MODEL_SUFFIXES)):
        if export is not None:
            raise ConfigError(f"{bundle} is a file, not a bundle folder; --export needs the bundle it was made from",
                              hint=f"serve the file on its own: edgekit serve {bundle}")
        return None, bundle
    return bundle, export


def check_source(bundle: str | os.PathLike | None, export: str | os.PathLike | None = None) -> Schema | None:
    """Cheap checks that a bundle and/or model file can be served, without loading a model:
    what a supervisor runs before starting worker processes that would each fail. The
    feature schema, or None for a model file served as plain tensors."""
    bundle, export = model_file_as_export(bundle, export)
    if bundle is not None and _is_image_bundle(Path(bundle)):
        from edgekit.train.image_bundle import load_image_bundle

        load_image_bundle(bundle)  # its card and model file are there
        return None
    schema = read_bundle_schema(Path(bundle)) if bundle is not None else None
    if export is None:
        if schema is None:
            raise ConfigError("nothing to serve: give a bundle folder or a model file")
        return schema
    from edgekit.runtime import Manifest, read_manifest

    manifest = read_manifest(export, required=False)
    if not isinstance(manifest, Manifest):
        if schema is not None:
            raise _not_tabular(Path(export), bundle)
        return None
    if schema is not None:
        _compare_schemas(schema, manifest.schema, Path(bundle), Path(export))
    return manifest.schema


def _not_tabular(export: Path, bundle) -> ConfigError:
    return ConfigError(f"{export.name} is not an edgekit tabular export (it has no feature schema), "
                       f"so it cannot be checked against bundle {bundle}",
                       hint=f"serve the file on its own: edgekit serve {export}")


def _is_image_bundle(bundle: Path) -> bool:
    from edgekit.train.image_bundle import CARD_FILE

    return (bundle / CARD_FILE).is_file()


def check_image_export_matches(bundle: Path, model, export: Path) -> None:
    """An image export served with --export must be one of this image bundle's (same
    classes and input), or a stale file would answer with the wrong labels."""
    from edgekit.train.image_bundle import load_image_bundle

    if not _is_image_bundle(bundle):
        raise _not_tabular(export, bundle) if (bundle / "model_card.json").is_file() else ModelLoadError(
            f"{bundle}: not an image bundle folder")
    card = load_image_bundle(bundle).card
    spec = card.input
    if (list(model.class_names) != list(card.class_names)
            or (model.adapter.height, model.adapter.width, model.adapter.channels) != (spec["height"], spec["width"], spec["channels"])):
        raise ConfigError(f"{export.name} takes {model.adapter.height}x{model.adapter.width}x{model.adapter.channels} "
                          f"images with classes {list(model.class_names)}, but bundle {bundle} has "
                          f"{spec['height']}x{spec['width']}x{spec['channels']} and {list(card.class_names)}",
                          hint="export this bundle again, or pass the bundle the export was made from")


def read_bundle_schema(bundle: Path) -> Schema:
    card = bundle / "model_card.json"
    if not bundle.is_dir():
        raise ModelLoadError(f"{bundle}: not a bundle folder", hint="train one with 'edgekit train DATA --target COL --out DIR'")
    if not card.is_file():
        raise ModelLoadError(f"{bundle}: no model_card.json; not an edgekit bundle")
    try:
        return Schema.from_dict(json.loads(card.read_text(encoding="utf-8"))["schema"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{card}: unreadable model card: {exc}") from exc


def check_export_matches(bundle: Path, schema: Schema, export: Path) -> None:
    _compare_schemas(read_bundle_schema(bundle), schema, bundle, export)


def _compare_schemas(bundle_schema: Schema, export_schema: Schema, bundle: Path, export: Path) -> None:
    if bundle_schema.names != export_schema.names:
        raise ConfigError(
            f"{export.name} takes features {export_schema.names}, but bundle {bundle} has {bundle_schema.names}",
            hint="export this bundle again, or pass the bundle the export was made from",
        )


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise ConfigError(
            f"model name {name!r} cannot be used in URLs",
            hint="use letters, digits, '.', '_' and '-' (at most 128), e.g. --name auto-mpg",
        )
    return name


def example_row(schema: Schema) -> dict[str, list[Any]]:
    """A plausible one-row input: mid-range numbers, the first known category."""
    row: dict[str, list[Any]] = {}
    for f in schema:
        if f.categories:
            row[f.name] = [f.categories[0]]
        elif f.min is not None and f.max is not None:
            row[f.name] = [(f.min + f.max) / 2]
        else:
            row[f.name] = [0.0]
    return row

