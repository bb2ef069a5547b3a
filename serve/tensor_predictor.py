"""Any model file behind the server, as its own named tensors (no feature schema).

:class:`TensorPredictor` wraps an ``edgekit.runtime.TensorModel``: requests carry the
model's inputs by name, the answer is every output as the backend returns it (raw
integers for int8 outputs, as the bare interpreter gives them). Like the tabular
predictors it is only ever called from the server's one model thread.

Micro-batching needs a batch dimension: every input and output dynamic along axis 0
(and, for ONNX, the inputs' first dimensions the same symbol). That is the same
assumption Triton makes for a model with ``max_batch_size > 0``: rows along axis 0 are
independent, so requests can be concatenated and the outputs split back by rows. Models
without one (a fixed batch of 1, scalar or state inputs) run one request at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from edgekit.runtime.errors import InferenceError, SchemaError
from edgekit.runtime.tensors import TensorSpec, synthetic_feeds
from edgekit.serve.predictors import PLATFORMS, check_name

logger = logging.getLogger("edgekit.serve")

MAX_REMEMBERED_SHAPES = 4096


@dataclass(frozen=True)
class TensorOutputs:
    """A model call's outputs by name, and the rows (axis 0) of the inputs it ran on."""

    arrays: dict[str, np.ndarray]
    rows: int
    request_ids: None = None  # no prediction log for tensor models

    def __len__(self) -> int:
        return self.rows


def has_batch_dimension(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> bool:
    """True when every input and output has a dynamic first dimension that inputs share."""
    if not inputs or not outputs:
        return False
    if any(s.rank == 0 or _fixed(s.shape[0]) for s in (*inputs, *outputs)):
        return False
    # ONNX names its dynamic dimensions: inputs batched together must use one name.
    return len({s.shape[0] for s in inputs if isinstance(s.shape[0], str)}) <= 1


def _fixed(dim: Any) -> bool:
    return isinstance(dim, int) and dim >= 0


class TensorPredictor:
    """What the server needs from a model file served as plain tensors."""

    def __init__(self, model, *, name: str):
        self.model = model
        self.name = check_name(name)
        self.platform = PLATFORMS.get(model.format, model.format)
        self.model_id = model.sha256
        self.inputs: tuple[TensorSpec, ...] = tuple(model.inputs)
        self.outputs: tuple[TensorSpec, ...] = tuple(model.outputs)
        self.output_names = [s.name for s in self.outputs]
        self.signature = model.signature
        self.batchable = has_batch_dimension(self.inputs, self.outputs)
        self._shapes_that_ran: set[tuple] = set()

    # -- requests --------------------------------------------------------------------------
    def rows_and_key(self, feeds: Mapping[str, np.ndarray]) -> tuple[int, Hashable]:
        """Rows along the batch dimension and the batching key (the non-batch shapes) of
        feeds already checked against the inputs; one row, no key, without a batch dim."""
        if not self.batchable:
            return 1, None
        rows = {name: feeds[name].shape[0] for name in feeds}
        first = self.inputs[0].name
        for name, n in rows.items():
            if n != rows[first]:
                raise SchemaError(f"the inputs share the batch dimension (axis 0), but {first!r} has {rows[first]} "
                                  f"rows and {name!r} has {n}")
        return rows[first], tuple(feeds[s.name].shape[1:] for s in self.inputs)

    def predict(self, feeds: Mapping[str, np.ndarray]) -> TensorOutputs:
        """Run the model; a shape the backend refuses that never ran before is the
        request's fault (a dynamic dimension the model cannot take): a SchemaError."""
        shapes = tuple(np.shape(feeds[s.name]) for s in self.inputs if s.name in feeds)
        try:
            arrays = self.model.run(feeds)
        except InferenceError as exc:
            if shapes in self._shapes_that_ran:
                raise
            text = ", ".join(f"{s.name} {list(shape)}" for s, shape in zip(self.inputs, shapes))
            raise SchemaError(f"the model cannot run inputs of shape {text}: {exc}") from exc
        if len(self._shapes_that_ran) < MAX_REMEMBERED_SHAPES:
            self._shapes_that_ran.add(shapes)
        rows = int(np.shape(feeds[self.inputs[0].name])[0]) if self.batchable else 1
        return TensorOutputs(arrays, rows)

    # -- life cycle ------------------------------------------------------------------------
    def warm_up(self) -> TensorOutputs | None:
        """One call on seeded random inputs (unknown dimensions as 1), so the first request
        pays no allocation cost. With guessed dimensions a failure is only logged: the
        model may need other sizes, which requests will bring."""
        guessed = any(not _fixed(d) for s in self.inputs for d in s.shape[1:])
        shapes = {s.name: [d if _fixed(d) else 1 for d in s.shape] for s in self.inputs}
        try:
            return self.predict(synthetic_feeds(self.inputs, shapes, seed=0))
        except (SchemaError, InferenceError) as exc:
            if not guessed:
                raise
            logger.warning("warm-up with every unknown dimension as 1 failed (%s); serving anyway", exc)
            return None

    def describe(self) -> str:
        def text(specs):
            return ", ".join(f"{s.name}{s.shape_text()}:{s.dtype}" for s in specs)

        return f"{self.name} ({self.platform} tensors {text(self.inputs)} -> {text(self.outputs)})"

    def close(self) -> None:
        self.model.close()


def split_tensor_rows(outputs: TensorOutputs, sizes: Sequence[int]) -> list[TensorOutputs]:
    """Each request's rows of a merged call; a single request keeps its outputs whole."""
    if len(sizes) == 1:
        return [outputs]
    total = sum(sizes)
    for name, array in outputs.arrays.items():
        if array.ndim == 0 or array.shape[0] != total:  # no batch dimension after all: never mix rows
            raise InferenceError(f"output {name!r} has shape {list(array.shape)}, not {total} rows for {total} "
                                 "rows of inputs; running the requests one by one")
    parts, offset = [], 0
    for size in sizes:
        parts.append(TensorOutputs({k: v[offset:offset + size] for k, v in outputs.arrays.items()}, size))
        offset += size
    return parts
