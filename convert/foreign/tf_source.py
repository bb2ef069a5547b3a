"""TensorFlow sources: a ``.keras`` file or a SavedModel folder, seen through one serving signature.

A ``.keras`` file is loaded with ``safe_mode=True`` and refused if it holds a Lambda layer
(arbitrary Python). It is then exported with Keras' own ``ExportArchive`` to a temporary
SavedModel, so both sources reach the converters the same way: a loaded SavedModel and its
serving signature, whose input and output keys name every export's tensors. TFLite
converts from that signature with the loaded object as the owner of its variables
(``from_saved_model`` leaves the variables of a ``tf.Module``-saved Keras model unfrozen
and produces NaN; ``from_concrete_functions([signature], loaded)`` does not).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgekit.convert.foreign.source import Source, first_line, tree_facts
from edgekit.runtime.errors import ModelLoadError
from edgekit.runtime.tensors import TensorSpec, dtype_name
from edgekit.train.tf_env import import_keras, import_tensorflow

SERVING_KEY = "serving_default"


class TFSource(Source):
    """A loaded SavedModel signature (for a .keras file: the Keras model beside it)."""

    offers = {"tflite": ("fp32", "fp16", "dynamic", "int8"), "onnx": ("fp32", "dynamic", "int8")}

    def __init__(self, path: Path, kind: str, loaded: Any, signature: Any, signature_key: str,
                 reference_fn: Any, scratch: Path | None = None):
        self.loaded = loaded  # owns the variables the signature reads
        self.signature = signature
        self.signature_key = signature_key
        self._reference_fn = reference_fn
        self._scratch = scratch
        _, kwargs = signature.structured_input_signature
        self.tf_specs = dict(kwargs)
        inputs = tuple(_edgekit_spec(name, spec) for name, spec in kwargs.items())
        outputs = tuple(signature.structured_outputs)
        framework = "keras" if kind == "keras" else "tensorflow"
        sha256, size = tree_facts(path)
        super().__init__(path, kind, framework, inputs, outputs, sha256, size)

    def reference(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self._reference_fn(feeds)
        return {name: np.asarray(outputs[name]) for name in self.output_names}

    def tools(self) -> dict[str, str]:
        tf = import_tensorflow()
        tools = {"tensorflow": tf.__version__}
        if self.kind == "keras":
            tools["keras"] = import_keras().__version__
        return tools

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def open_keras(path: Path) -> TFSource:
    keras = import_keras()
    tf = import_tensorflow()
    model = _load_keras(keras, path)
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ModelLoadError(f"{path.name}: the Keras model has no defined inputs (a subclassed model?)",
                             hint="build it with keras.Input so its input names and shapes are known")
    names = [t.name for t in inputs]
    specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in inputs]
    output_names = list(model.output_names)
    structure = model.input

    def serve(*args):
        y = model(keras.tree.pack_sequence_as(structure, list(args)), training=False)
        if isinstance(y, dict):
            return {name: y[name] for name in output_names}
        return dict(zip(output_names, y if isinstance(y, (list, tuple)) else [y]))

    scratch = Path(tempfile.mkdtemp(prefix="edgekit-keras-"))
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", serve, input_signature=specs)
        archive.write_out(str(scratch / "saved_model"), verbose=False)
        loaded = tf.saved_model.load(str(scratch / "saved_model"))
    except Exception as exc:  # Keras/TF raise many types while tracing a model
        shutil.rmtree(scratch, ignore_errors=True)
        raise ModelLoadError(f"{path.name}: Keras could not export the model for conversion: {first_line(exc)}") from exc
    reference = tf.function(serve, input_signature=specs)

    def run(feeds):
        return {k: v.numpy() for k, v in reference(*[feeds[n] for n in names]).items()}

    return TFSource(path, "keras", loaded, loaded.signatures[SERVING_KEY], SERVING_KEY, run, scratch)


def open_saved_model(path: Path) -> TFSource:
    tf = import_tensorflow()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # corrupt protobufs, missing variables, unknown ops...
        raise ModelLoadError(f"{path.name}: TensorFlow cannot load this SavedModel: {first_line(exc)}") from exc
    signatures = dict(getattr(loaded, "signatures", {}) or {})
    if not signatures:
        raise ModelLoadError(
            f"{path.name}: the SavedModel has no serving signature, so its inputs and outputs are unknown",
            hint="save it with tf.saved_model.save(obj, dir, signatures={'serving_default': fn.get_concrete_function()}) "
                 "or keras_model.export(dir)")
    if SERVING_KEY in signatures:
        key = SERVING_KEY
    elif len(signatures) == 1:
        key = next(iter(signatures))
    else:
        raise ModelLoadError(f"{path.name}: the SavedModel has several signatures {sorted(signatures)} and no "
                             f"{SERVING_KEY!r}", hint=f"re-save it with the one to convert as {SERVING_KEY!r}")
    signature = signatures[key]
    _, kwargs = signature.structured_input_signature
    if not kwargs or not isinstance(signature.structured_outputs, dict):
        raise ModelLoadError(f"{path.name}: signature {key!r} must take named inputs and return a dict of outputs")

    def run(feeds):
        return {k: v.numpy() for k, v in signature(**{n: tf.constant(feeds[n]) for n in kwargs}).items()}

    return TFSource(path, "saved_model", loaded, signature, key, run)


def _load_keras(keras, path: Path):
    try:
        model = keras.saving.load_model(str(path), safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises ValueError, TypeError, zip and h5 errors
        text = str(exc)
        if "Lambda" in text or "lambda" in text:
            raise _lambda_refused(path) from exc
        raise ModelLoadError(f"{path.name}: Keras cannot load it safely: {first_line(exc)}",
                             hint="custom layers must be registered with keras.saving.register_keras_serializable") from exc
    lambdas = [layer.name for layer in _all_layers(model) if isinstance(layer, keras.layers.Lambda)]
    if lambdas:
        raise _lambda_refused(path, lambdas)
    return model


def _lambda_refused(path: Path, names: list[str] | None = None) -> ModelLoadError:
    which = f" ({', '.join(names)})" if names else ""
    return ModelLoadError(
        f"{path.name} contains a Lambda layer{which}: it runs arbitrary Python code, and edgekit loads Keras files "
        "with safe_mode=True only", hint="replace the Lambda by built-in layers or a registered custom layer")


def _all_layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _all_layers(layer)


def _edgekit_spec(name: str, spec) -> TensorSpec:
    if spec.shape.rank is None:
        raise ModelLoadError(f"input {name!r} has an unknown rank; conversion needs at least the rank of every input")
    dims = tuple(None if d is None else int(d) for d in spec.shape.as_list())
    return TensorSpec(name, dims, dtype_name(spec.dtype.as_numpy_dtype))
