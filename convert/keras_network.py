"""What the exporters need to know about edgekit's network graph, and the graph they convert.

The network is ``x -> preprocessing layer -> dense core -> [target scaling]``. Two parts of
it must stay in float and out of the dense layers' weights in every reduced-precision
export:

- the input standardisation ``(x - mu) / sigma``: TFLite's converter folds the division
  into the first dense layer (W / sigma) and feeds it ``x - mu`` in raw units, so an int8
  (or float16) copy of those weights and of that input loses whole features when their
  scales differ by orders of magnitude;
- the regression output's ``y * std + mean``: folded, the head's weights are multiplied by
  the target's std (float16 overflows beyond 65504), and an int8 ``+ mean`` is off by up to
  half a quantisation step of the whole output range.

:func:`unfolded` rebuilds the same network (same layer objects and weights) with an identity
op (``max(t, lowest float32)``) at both boundaries, which the converter cannot fold through.
"""

from __future__ import annotations

from edgekit.train.keras_model import PREPROCESS_LAYER
from edgekit.train.tf_env import import_keras

TARGET_SCALE = "edgekit>TargetScale"  # registered name of the regression output layer
# max(t, LOWEST) is t for every float32 t, NaN and inf included.
LOWEST = -3.4028234663852886e38


def target_scaling(model):
    """The regression network's output scaling layer, or None (classifiers have none)."""
    keras = import_keras()
    return next((layer for layer in model.layers if keras.saving.get_registered_name(type(layer)) == TARGET_SCALE), None)


def float_layer_names(model) -> list[str]:
    """Layers whose graph nodes stay in float in quantised exports (ONNX node names contain them)."""
    scaling = target_scaling(model)
    return [PREPROCESS_LAYER] + ([scaling.name] if scaling is not None else [])


def unfolded(model):
    """``model`` with identity ops around its dense core (the same layer objects, so the same
    weights and tensor names); returns (model, what the manifest records). A graph without
    edgekit's preprocessing layer is returned as it is."""
    keras = import_keras()
    if PREPROCESS_LAYER not in {layer.name for layer in model.layers}:
        return model, "as the converter folds them"
    scaling = target_scaling(model)
    barrier = keras.layers.Lambda(_identity, name="edgekit_keep_standardised")
    before_scaling = keras.layers.Lambda(_identity, name="edgekit_keep_target_scale")

    def call(layer, *args, **kwargs):
        if layer is scaling:
            args = (before_scaling(args[0]), *args[1:])
        out = layer(*args, **kwargs)
        return barrier(out) if layer.name == PREPROCESS_LAYER else out

    clone = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    return clone, "as trained (standardisation and output scaling kept as float ops)"


def _identity(t):
    from keras import ops

    return ops.maximum(t, LOWEST)
