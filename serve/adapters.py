"""One adapter per kind of served model: how its requests are decoded, batched and answered.

The routes only read the body, hand it to ``state.adapter`` and submit the result to the
batcher. :class:`TabularAdapter` serves a feature-schema :class:`Predictor` (a bundle's
source model or an edgekit tabular export: feature columns, ``prediction`` / ``label`` /
``probabilities``); :class:`TensorAdapter` serves a :class:`TensorPredictor` (any other
model file: the model's own tensors in and out).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, Callable, Hashable, Mapping

import numpy as np

from edgekit.runtime.errors import ConfigError
from edgekit.serve import tensor_tfserving, tensor_v2, tfserving, v2
from edgekit.serve.batcher import concatenate_rows, split_rows
from edgekit.serve.predictors import Outputs, Predictor
from edgekit.serve.protocol import SIGNATURE, InferenceRequest, PredictRequest
from edgekit.serve.tensor_predictor import TensorPredictor, split_tensor_rows


@dataclass(frozen=True)
class Submission:
    """A decoded TF Serving request: what goes to the batcher, and the answer format."""

    payload: Mapping[str, np.ndarray]
    rows: int
    key: Hashable
    fmt: str


class Adapter(ABC):
    predictor: Any
    batchable: bool = True  # False: every request runs alone (no batch dimension)
    merge = staticmethod(concatenate_rows)
    split = staticmethod(split_rows)

    @property
    def signatures(self) -> tuple[str, ...]:
        return (SIGNATURE,)

    @abstractmethod
    def open_log(self, path: str | os.PathLike):
        """The prediction log for ``--log``."""

    @abstractmethod
    def batch_function(self, prediction_log: Any) -> Callable[[Any], Any]:
        """What the batcher calls on the model thread with a merged payload."""

    @abstractmethod
    def decode_v2(self, request: InferenceRequest, binary: bytes) -> v2.Decoded: ...

    @abstractmethod
    def encode_v2(self, outputs: Any, decoded: v2.Decoded, *, model_name: str,
                  model_version: str) -> tuple[bytes, dict[str, str]]: ...

    @abstractmethod
    def metadata_v2(self, versions: list[str]) -> dict[str, Any]: ...

    @abstractmethod
    def decode_tfserving(self, request: PredictRequest) -> Submission: ...

    @abstractmethod
    def encode_tfserving(self, outputs: Any, fmt: str) -> dict[str, Any]: ...

    @abstractmethod
    def signature_metadata(self, version: str) -> dict[str, Any]: ...


class TabularAdapter(Adapter):
    """Feature columns in, the task's outputs back (tabular bundles and exports)."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor

    def open_log(self, path: str | os.PathLike):
        """The runtime's SQLite prediction log (safe for several worker processes at once)."""
        from edgekit.runtime.prediction_log import PredictionLog

        p = self.predictor
        return PredictionLog(path, model_id=p.model_id, schema=p.schema, task=p.task, labels=p.labels)

    def batch_function(self, prediction_log: Any) -> Callable[[Mapping[str, np.ndarray]], Outputs]:
        predictor = self.predictor
        if prediction_log is None:
            return predictor.predict_columns

        def predict_and_log(columns: Mapping[str, np.ndarray]) -> Outputs:
            outputs = predictor.predict_columns(columns)
            ids = prediction_log.log(columns, _as_prediction(outputs, predictor))
            return replace(outputs, request_ids=tuple(ids))

        return predict_and_log

    def decode_v2(self, request: InferenceRequest, binary: bytes) -> v2.Decoded:
        return v2.decode_request(request, binary, self.predictor)

    def encode_v2(self, outputs: Outputs, decoded: v2.Decoded, *, model_name: str,
                  model_version: str) -> tuple[bytes, dict[str, str]]:
        return v2.encode_response(
            outputs, decoded.outputs, model_name=model_name, model_version=model_version, request_id=decoded.id,
            integer_labels=self.predictor.integer_labels,
            parameters={"prediction_ids": list(outputs.request_ids)} if outputs.request_ids is not None else None,
        )

    def metadata_v2(self, versions: list[str]) -> dict[str, Any]:
        return v2.model_metadata(self.predictor, versions)

    def decode_tfserving(self, request: PredictRequest) -> Submission:
        columns, fmt = tfserving.decode_request(request, self.predictor.schema)
        return Submission(columns, len(next(iter(columns.values()))), (), fmt)

    def encode_tfserving(self, outputs: Outputs, fmt: str) -> dict[str, Any]:
        doc = tfserving.encode_response(outputs, fmt, self.predictor)
        if outputs.request_ids is not None:
            doc["prediction_ids"] = list(outputs.request_ids)
        return doc

    def signature_metadata(self, version: str) -> dict[str, Any]:
        return tfserving.signature_metadata(self.predictor, version)


def _as_prediction(outputs: Outputs, predictor: Predictor):
    from edgekit.runtime.model import Prediction

    if predictor.task == "regression":
        return Prediction("regression", outputs.prediction)
    return Prediction("classification", outputs.label, outputs.probabilities, predictor.labels)


class TensorAdapter(Adapter):
    """The model's own tensors in and out (any .tflite/.onnx/.ort file)."""

    split = staticmethod(split_tensor_rows)

    def __init__(self, predictor: TensorPredictor):
        self.predictor = predictor
        self.batchable = predictor.batchable

    @property
    def signatures(self) -> tuple[str, ...]:
        own = self.predictor.signature
        return (own, SIGNATURE) if own and own != SIGNATURE else (SIGNATURE,)

    def open_log(self, path: str | os.PathLike):
        raise ConfigError(f"--log records feature rows, and {self.predictor.name} has none: it is served as plain tensors",
                          hint="drop --log, or serve an edgekit tabular export")

    def batch_function(self, prediction_log: Any) -> Callable[[Mapping[str, np.ndarray]], Any]:
        return self.predictor.predict

    def decode_v2(self, request: InferenceRequest, binary: bytes) -> v2.Decoded:
        return tensor_v2.decode_request(request, binary, self.predictor)

    def encode_v2(self, outputs, decoded: v2.Decoded, *, model_name: str,
                  model_version: str) -> tuple[bytes, dict[str, str]]:
        return tensor_v2.encode_response(outputs, decoded.outputs, model_name=model_name, model_version=model_version,
                                         request_id=decoded.id)

    def metadata_v2(self, versions: list[str]) -> dict[str, Any]:
        return tensor_v2.model_metadata(self.predictor, versions)

    def decode_tfserving(self, request: PredictRequest) -> Submission:
        feeds, fmt = tensor_tfserving.decode_request(request, self.predictor)
        rows, key = self.predictor.rows_and_key(feeds)
        return Submission(feeds, rows, key, fmt)

    def encode_tfserving(self, outputs, fmt: str) -> dict[str, Any]:
        return tensor_tfserving.encode_response(outputs, fmt, self.predictor)

    def signature_metadata(self, version: str) -> dict[str, Any]:
        return tensor_tfserving.signature_metadata(self.predictor, version)


def adapter_for(predictor: Predictor | TensorPredictor) -> Adapter:
    from edgekit.serve.image_predictor import ImagePredictor

    if isinstance(predictor, ImagePredictor):  # pixels or encoded images (edgekit.serve.image_adapter)
        from edgekit.serve.image_adapter import ImageAdapter

        return ImageAdapter(predictor)
    return TensorAdapter(predictor) if isinstance(predictor, TensorPredictor) else TabularAdapter(predictor)
