"""What every route shares: the predictor, its batcher, the prediction log."""

from __future__ import annotations

from typing import Any, Hashable, Mapping

import numpy as np
from starlette.requests import Request

from edgekit.serve.adapters import Adapter, adapter_for
from edgekit.serve.batcher import MicroBatcher
from edgekit.serve.errors import NotFoundError
from edgekit.serve.predictors import Predictor
from edgekit.serve.tensor_predictor import TensorPredictor

MODEL_VERSION = "1"


class ServeState:
    """One per app, at ``app.state.edgekit``."""

    def __init__(self, predictor: Predictor | TensorPredictor, batcher: MicroBatcher, *, name: str, max_body_bytes: int,
                 log: Any = None, adapter: Adapter | None = None):
        self.predictor = predictor
        self.adapter = adapter or adapter_for(predictor)
        self.batcher = batcher
        self.name = name
        self.version = MODEL_VERSION
        self.max_body_bytes = max_body_bytes
        self.log = log
        self.ready = False

    def check_model(self, name: str, version: str | None = None) -> None:
        if name != self.name:
            raise NotFoundError(f"unknown model {name!r}; this server serves {self.name!r}")
        if version is not None and version != self.version:
            raise NotFoundError(f"model {name!r} has no version {version!r}; it has [{self.version!r}]")

    async def predict(self, columns: Mapping[str, np.ndarray], rows: int, key: Hashable = ()) -> Any:
        return await self.batcher.submit(columns, rows, key=key)

    def close(self) -> None:
        try:
            if self.log is not None:
                self.log.close()
        finally:
            self.predictor.close()


def state_of(request: Request) -> ServeState:
    return request.app.state.edgekit
