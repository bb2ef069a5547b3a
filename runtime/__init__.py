"""edgekit.runtime: run model files on a device with numpy and one backend.

>>> from edgekit.runtime import load
>>> model = load("model.tflite")                  # an edgekit tabular export
>>> model.predict({"weight": [3504.0], "horsepower": [130.0], ...}).to_records()
>>> other = load("kws.onnx")                      # any other .tflite/.onnx/.ort file
>>> other.inputs, other.run({"audio": x})

Imports nothing heavy: numpy, the standard library and, when a model is loaded, its
backend (ai-edge-litert, tflite-runtime or onnxruntime).
"""

from edgekit.runtime.errors import (
    ConfigError,
    ConversionError,
    DataError,
    EdgekitError,
    InferenceError,
    IntegrityError,
    MissingDependencyError,
    ModelLoadError,
    ParityError,
    SchemaError,
)
from edgekit.runtime import seal
from edgekit.runtime.image_model import ImageModel, ImagePrediction
from edgekit.runtime.inspect import inspect_model
from edgekit.runtime.loader import detect_format, load, read_manifest
from edgekit.runtime.manifest import Manifest, parse_manifest
from edgekit.runtime.model import Model, Prediction, SaturationWarning
from edgekit.runtime.preprocessing import TabularPreprocessing
from edgekit.runtime.schema import Feature, Schema
from edgekit.runtime.tensor_manifest import TensorManifest
from edgekit.runtime.tensor_model import TensorModel
from edgekit.runtime.tensors import Quantization, TensorSpec, synthetic_feeds

__all__ = [
    "load",
    "inspect_model",
    "read_manifest",
    "detect_format",
    "Model",
    "TensorModel",
    "ImageModel",
    "ImagePrediction",
    "TensorSpec",
    "Quantization",
    "TensorManifest",
    "parse_manifest",
    "synthetic_feeds",
    "Prediction",
    "Manifest",
    "Schema",
    "Feature",
    "TabularPreprocessing",
    "SaturationWarning",
    "EdgekitError",
    "ConfigError",
    "DataError",
    "SchemaError",
    "MissingDependencyError",
    "ModelLoadError",
    "IntegrityError",
    "ConversionError",
    "ParityError",
    "InferenceError",
]
