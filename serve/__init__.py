"""edgekit.serve: the cloud baseline, a model behind a REST server.

>>> from edgekit.serve import create_app, load_predictor
>>> app = create_app(load_predictor("bundles/auto-mpg-mpg"))   # any ASGI server can run it
>>> from edgekit.serve import run
>>> run("bundles/auto-mpg-mpg", port=8000)                      # what `edgekit serve` does
>>> run("kws.tflite", port=8000)                                # any model file, as its own tensors

Speaks the Open Inference Protocol (KServe V2, incl. Triton's binary tensor extension) and
TensorFlow Serving's REST API, so their clients work unchanged. Concurrent requests are
micro-batched onto one model thread. A bundle or an edgekit tabular export takes feature
columns; any other .tflite/.onnx/.ort file is served through a ``TensorPredictor`` with
its own tensor names, shapes and datatypes. Needs ``pip install 'edgekit[serve]'``.
"""

from edgekit.serve.app import create_app
from edgekit.serve.batcher import BatchStats, MicroBatcher
from edgekit.serve.launcher import RunningServer, serve_in_subprocess, serve_in_thread, wait_until_ready
from edgekit.serve.predictors import ExportPredictor, Outputs, Predictor, SourcePredictor, load_predictor
from edgekit.serve.server import ServeConfig, run
from edgekit.serve.tensor_predictor import TensorOutputs, TensorPredictor

__all__ = [
    "create_app",
    "load_predictor",
    "run",
    "ServeConfig",
    "Predictor",
    "SourcePredictor",
    "ExportPredictor",
    "TensorPredictor",
    "TensorOutputs",
    "Outputs",
    "MicroBatcher",
    "BatchStats",
    "RunningServer",
    "serve_in_thread",
    "serve_in_subprocess",
    "wait_until_ready",
]
