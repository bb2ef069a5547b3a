"""edgekit.convert: TFLite and ONNX exports with quantisation, embedded manifests and a parity gate."""

from edgekit.convert.api import convert
from edgekit.convert.base import supported_formats
from edgekit.convert.options import ConvertOptions
from edgekit.convert.report import ConversionReport, ExportResult

__all__ = ["convert", "ConvertOptions", "ConversionReport", "ExportResult", "supported_formats"]
