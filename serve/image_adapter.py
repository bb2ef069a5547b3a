"""Requests for an image classifier: raw pixels or encoded images in, labels and probabilities out.

KServe V2 (Open Inference Protocol), one input per request:

* ``UINT8`` ``[n, h, w, c]`` (``[n, h, w]`` for grayscale): raw pixels of the model's
  size, as a camera frame arrives. Other integer or float datatypes are taken when every
  value is a whole number in 0..255.
* ``BYTES`` ``[n]``: encoded images (PNG, JPEG, BMP, ...), base64 strings in JSON (the
  usual V2 convention for binary BYTES in JSON) or raw bytes with the binary extension;
  decoded, converted and resized by the runtime's own decoder (what training used).

Outputs ``label`` (BYTES [n]) and ``probabilities`` (FP32 [n, classes]). TF Serving's
``:predict`` takes the same images as ``instances`` (nested pixel lists or
``{"b64": ...}`` objects, TF Serving's binary convention) or ``inputs``. Anything else
(undecodable bytes, a wrong shape, a second input) is a 400 with one message.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import replace
from typing import Any, Callable, Mapping

import numpy as np

from edgekit.runtime.errors import DataError
from edgekit.serve import tfserving, v2
from edgekit.serve.adapters import Adapter, Submission
from edgekit.serve.errors import RequestError
from edgekit.serve.image_predictor import BYTES_INPUT, PIXELS, ImagePredictor
from edgekit.serve.predictors import Outputs
from edgekit.serve.protocol import InferenceRequest, PredictRequest
from edgekit.serve.tensor_v2 import as_declared


class ImageAdapter(Adapter):
    """Image requests decoded to the model's uint8 pixels before they are batched."""

    def __init__(self, predictor: ImagePredictor):
        self.predictor = predictor

    def open_log(self, path: str | os.PathLike):
        """The prediction log with per-image statistics (never pixels)."""
        from edgekit.runtime.image_log import ImagePredictionLog

        p = self.predictor
        return ImagePredictionLog(path, model_id=p.model_id, channel_order=p.channel_order, class_names=p.labels)

    def batch_function(self, prediction_log: Any) -> Callable[[Mapping[str, np.ndarray]], Outputs]:
        predictor = self.predictor
        if prediction_log is None:
            return predictor.predict

        def predict_and_log(payload: Mapping[str, np.ndarray]) -> Outputs:
            outputs = predictor.predict(payload)
            ids = prediction_log.log(payload[PIXELS], outputs.label.tolist(), outputs.probabilities)
            return replace(outputs, request_ids=tuple(ids))

        return predict_and_log

    # -- V2 ----------------------------------------------------------------------------------
    def decode_v2(self, request: InferenceRequest, binary: bytes) -> v2.Decoded:
        tensors = v2.read_tensors(request, binary, text=False)
        if len(tensors) != 1:
            raise RequestError(f"send one input (UINT8 pixels {self._shape_text()} or BYTES encoded images), "
                               f"got {len(tensors)}")
        tensor = tensors[0]
        if tensor.datatype == "BYTES":
            pixels = self._decode_encoded(tensor.values.tolist(), tensor.name, tensor.shape)
        elif tensor.datatype == "BOOL":
            raise RequestError(f"input {tensor.name!r} is BOOL; send UINT8 pixels or BYTES encoded images")
        else:
            pixels = self._checked_pixels(as_declared(tensor), tensor.name)
        outputs = v2.select_outputs(request, self.predictor.output_names)
        return v2.Decoded({PIXELS: pixels}, len(pixels), outputs, request.id)

    def encode_v2(self, outputs: Outputs, decoded: v2.Decoded, *, model_name: str,
                  model_version: str) -> tuple[bytes, dict[str, str]]:
        return v2.encode_response(
            outputs, decoded.outputs, model_name=model_name, model_version=model_version, request_id=decoded.id,
            integer_labels=False,
            parameters={"prediction_ids": list(outputs.request_ids)} if outputs.request_ids is not None else None,
        )

    def metadata_v2(self, versions: list[str]) -> dict[str, Any]:
        p = self.predictor
        return {
            "name": p.name, "versions": versions, "platform": p.platform,
            "inputs": [{"name": p.input_name, "datatype": "UINT8", "shape": [-1, *p.image_shape]},
                       {"name": BYTES_INPUT, "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                        {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(p.labels)]}],
            "parameters": {"image": {"height": p.height, "width": p.width, "channels": p.channels,
                                     "channel_order": p.channel_order, "pixel_range": [0, 255],
                                     "labels": list(p.labels),
                                     "inputs": "one of the two: raw pixels, or encoded images (base64 in JSON)"}},
        }

    # -- TF Serving ----------------------------------------------------------------------------
    def decode_tfserving(self, request: PredictRequest) -> Submission:
        if request.instances is not None:
            items, fmt = request.instances, "row"
        else:
            inputs = request.inputs
            if isinstance(inputs, dict):
                if len(inputs) != 1:
                    raise RequestError(f"send one input (pixels or {{\"b64\": ...}} images), got {sorted(inputs)}")
                inputs = next(iter(inputs.values()))
            if not isinstance(inputs, list) or not inputs:
                raise RequestError("inputs must be a non-empty list of images")
            items, fmt = inputs, "columnar"
        encoded = [isinstance(item, dict) for item in items]
        if any(encoded):
            if not all(encoded):
                raise RequestError('instances mix {"b64": ...} images and pixel lists; use one form')
            texts = []
            for i, item in enumerate(items):
                if set(item) != {"b64"} or not isinstance(item["b64"], str):
                    raise RequestError(f'image {i} must be {{"b64": "<base64 of the encoded image>"}}')
                texts.append(item["b64"])
            pixels = self._decode_encoded(texts, "instances", (len(texts),))
        else:
            try:
                array = np.asarray(items)
            except ValueError:
                raise RequestError(f"images must be nested lists of pixels {self._shape_text()} of one size") from None
            if array.dtype.kind not in "iuf":
                raise RequestError(f"images must be pixel numbers 0..255 {self._shape_text()}, or {{\"b64\": ...}} objects")
            pixels = self._checked_pixels(array, "instances")
        return Submission({PIXELS: pixels}, len(pixels), (), fmt)

    def encode_tfserving(self, outputs: Outputs, fmt: str) -> dict[str, Any]:
        doc = tfserving.encode_response(outputs, fmt, self.predictor)
        if outputs.request_ids is not None:
            doc["prediction_ids"] = list(outputs.request_ids)
        return doc

    def signature_metadata(self, version: str) -> dict[str, Any]:
        p = self.predictor
        shape = [{"size": "-1"}] + [{"size": str(d)} for d in p.image_shape]
        return {"model_spec": {"name": p.name, "signature_name": "", "version": version}, "metadata": {"signature_def": {
            "signature_def": {"serving_default": {
                "inputs": {p.input_name: {"dtype": "DT_UINT8", "tensor_shape": {"dim": shape}, "name": p.input_name}},
                "outputs": {"label": {"dtype": "DT_STRING", "tensor_shape": {"dim": [{"size": "-1"}]}, "name": "label"},
                            "probabilities": {"dtype": "DT_FLOAT", "name": "probabilities", "tensor_shape": {
                                "dim": [{"size": "-1"}, {"size": str(len(p.labels))}]}}},
                "method_name": "tensorflow/serving/predict"}}}}}

    # -- decoding --------------------------------------------------------------------------------
    def _shape_text(self) -> str:
        return "[n, " + ", ".join(str(d) for d in self.predictor.image_shape) + "]"

    def _checked_pixels(self, array: np.ndarray, name: str) -> np.ndarray:
        """uint8 [n, h, w, c] of exactly the model's size; a grayscale [n, h, w] gains its channel axis."""
        p = self.predictor
        if array.ndim == 3 and p.channels == 1:
            array = array[..., None]
        if array.ndim != 4 or tuple(array.shape[1:]) != p.image_shape:
            raise RequestError(f"input {name!r} has shape {list(array.shape)}; the model takes uint8 pixels "
                               f"{self._shape_text()} ({p.channel_order}), or send encoded images as BYTES")
        if array.dtype == np.uint8:
            return array
        if array.size and (not np.isfinite(array).all() or array.min() < 0 or array.max() > 255
                           or not np.array_equal(array, np.round(array))):
            raise RequestError(f"input {name!r}: pixels must be whole numbers 0..255")
        return array.astype(np.uint8)

    def _decode_encoded(self, items: list[Any], name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Encoded images (base64 text from JSON, raw bytes from the binary extension) as pixels."""
        from edgekit.runtime.image_files import decode_image

        if len(shape) != 1:
            raise RequestError(f"input {name!r} has shape {list(shape)}; encoded images are a BYTES [n] tensor")
        if not items:
            raise RequestError(f"input {name!r} holds no images")
        p = self.predictor
        pixels = []
        for i, item in enumerate(items):
            data = item
            if isinstance(item, str):  # JSON carries binary data as base64 text
                try:
                    data = base64.b64decode(item, validate=True)
                except (binascii.Error, ValueError):
                    raise RequestError(f"input {name!r}: image {i} is not valid base64") from None
            try:
                pixels.append(decode_image(data, (p.height, p.width), p.channels, name=f"image {i}"))
            except DataError as exc:
                raise RequestError(f"input {name!r}: {exc.message}") from None
        return np.stack(pixels)
