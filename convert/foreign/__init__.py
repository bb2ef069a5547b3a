"""edgekit.convert.foreign: convert models edgekit did not train (.keras, SavedModel, .onnx, .tflite).

>>> from edgekit.convert.foreign import ForeignOptions, convert_foreign
>>> report = convert_foreign("cnn.keras", options=ForeignOptions(calibration=Path("calib.npz")))
"""

from edgekit.convert.foreign.api import convert_foreign, default_out
from edgekit.convert.foreign.options import ForeignOptions
from edgekit.convert.foreign.report import ForeignReport, VariantResult
from edgekit.convert.foreign.source import foreign_kind

__all__ = ["convert_foreign", "default_out", "ForeignOptions", "ForeignReport", "VariantResult", "foreign_kind"]
