"""The trained (source) model behind one interface: the reference for parity and the cloud.

``predict_columns`` takes the runtime's validated columns, so the source model and every
export see exactly the same values. Keras models run through a traced ``tf.function``
(never ``model.predict`` per call); scikit-learn pipelines through ``predict_proba`` /
``predict`` on a float32 frame, as their ONNX exports see it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from edgekit.runtime.inputs import to_columns, to_matrix
from edgekit.runtime.schema import Schema


class SourceModel:
    def __init__(self, model: Any, *, framework: str, task: str, schema: Schema, labels: list | None, name: str = "model"):
        self.model = model
        self.framework = framework
        self.task = task
        self.schema = schema
        self.labels = labels
        self.name = name
        self._fn = self._trace() if framework == "keras" else None

    @classmethod
    def from_bundle(cls, bundle) -> "SourceModel":
        card = bundle.card
        return cls(bundle.model, framework=card.framework, task=card.task, schema=card.schema, labels=card.labels,
                   name=bundle.path.name)

    def _trace(self):
        from edgekit.train.tf_env import import_tensorflow

        tf = import_tensorflow()
        model = self.model
        spec = tf.TensorSpec((None, len(self.schema)), tf.float32, name="x")

        @tf.function(input_signature=[spec], reduce_retracing=True)
        def serve(x):
            return model(x, training=False)

        serve.get_concrete_function()
        return serve

    def predict_rows(self, rows: Any) -> np.ndarray:
        """Rows in any form the runtime accepts -> regression values [n] or probabilities [n, k]."""
        return self.predict_columns(to_columns(rows, self.schema))

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_columns(to_columns({f.name: frame[f.name].to_numpy() for f in self.schema}, self.schema))

    def predict_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.framework == "keras":
            return self.predict_matrix(to_matrix(columns, self.schema))
        from edgekit.train.prepare import features_frame

        frame = features_frame(pd.DataFrame({name: columns[name] for name in self.schema.names}), self.schema)
        if self.task == "regression":
            return np.asarray(self.model.predict(frame), dtype=np.float64).reshape(-1)
        return np.asarray(self.model.predict_proba(frame), dtype=np.float64)

    def serving_predict(self) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
        """``predict_columns`` for a server's hot path: a scikit-learn pipeline replayed on
        numpy arrays (``edgekit.train.fast_pipeline``; identical outputs, no DataFrame per
        call), falling back to :meth:`predict_columns` for pipelines or inputs it does not
        replay. Parity and reports keep the plain pipeline as their reference."""
        if self.framework != "sklearn":
            return self.predict_columns
        from edgekit.train.fast_pipeline import compile_pipeline

        fast = compile_pipeline(self.model, self.schema, self.task)
        if fast is None:
            return self.predict_columns
        plain = self.predict_columns

        def predict(columns: Mapping[str, np.ndarray]) -> np.ndarray:
            y = fast(columns)
            return plain(columns) if y is None else y

        predict.compiled = True  # type: ignore[attr-defined]  # what `edgekit serve` reports
        return predict

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        """Keras only: float32 matrix in the runtime's encoding straight into the traced graph."""
        y = np.asarray(self._fn(np.asarray(x, dtype=np.float32)), dtype=np.float64)
        return y.reshape(-1) if self.task == "regression" else y

    def labels_of(self, output: np.ndarray) -> np.ndarray:
        """Class indices from probabilities (classification only)."""
        return np.argmax(output, axis=1)
