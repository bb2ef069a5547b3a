"""The specialised ``predict_array`` closure: as little Python as possible per call.

Built once per model: it checks dtype and shape inline, then calls a backend runner bound
to one output. The Model instance stores it as its ``predict_array`` attribute, so a call
costs one Python frame plus the backend's own (benchmarks/overhead.py measures it).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgekit.runtime.errors import SchemaError

FLOAT32 = np.dtype(np.float32)


def build(model) -> Callable[[np.ndarray], np.ndarray]:
    manifest = model.manifest
    width = len(manifest.schema)
    regression = manifest.task == "regression"
    role = "prediction" if regression else "probabilities"
    position = manifest.outputs.index(role) if role in manifest.outputs else 0
    backend = model.backend

    def bad(x) -> None:
        raise SchemaError(f"predict_array takes float32 [n, {width}]; got {getattr(x, 'dtype', type(x).__name__)} "
                          f"{getattr(x, 'shape', None)}")

    if manifest.input_layout == "columns":
        if not manifest.schema.all_numeric:
            def refuse(x: np.ndarray) -> np.ndarray:
                raise SchemaError("predict_array needs an all-numeric model; this one has string features",
                                  hint="use predict() with named columns")
            return refuse
        run = backend.run

        def run_columns(x: np.ndarray) -> np.ndarray:
            if x.dtype is not FLOAT32 or x.ndim != 2 or x.shape[1] != width:
                bad(x)
            y = run([x[:, i : i + 1] for i in range(width)])[position]
            return y.reshape(-1) if regression else y
        return run_columns

    prep = manifest.preprocessing.apply if manifest.preprocessing else None
    runner = backend.output_runner(position)
    if prep is not None:
        def run_prepared(x: np.ndarray) -> np.ndarray:
            if x.dtype is not FLOAT32 or x.ndim != 2 or x.shape[1] != width:
                bad(x)
            y = runner(prep(x))
            return y.reshape(-1) if regression else y
        return run_prepared

    if regression:
        def run_regression(x: np.ndarray) -> np.ndarray:
            if x.dtype is not FLOAT32 or x.ndim != 2 or x.shape[1] != width:
                bad(x)
            return runner(x).reshape(-1)
        return run_regression

    def run_classification(x: np.ndarray) -> np.ndarray:
        if x.dtype is not FLOAT32 or x.ndim != 2 or x.shape[1] != width:
            bad(x)
        return runner(x)
    return run_classification
