"""ONNX Runtime quantisation: dynamic int8 and static QDQ int8 with calibration.

Nodes that implement input preprocessing stay in float (static QDQ of a graph that starts
with normalisation collapses otherwise, FACTS.md). Graphs with nothing to quantise (tree
ensembles, SVMs, linear models exported as ai.onnx.ml operators) are reported as such
instead of producing a file that pretends.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path

from edgekit.convert.base import Job, NotApplicable
from edgekit.runtime.errors import ConversionError

QUANTIZABLE_OPS = {"MatMul", "Gemm", "Conv", "ConvTranspose"}
_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


def quantizable_ops(model) -> set[str]:
    return {node.op_type for node in model.graph.node} & QUANTIZABLE_OPS


def require_quantizable(model, family: str) -> None:
    if not quantizable_ops(model):
        ops = sorted({node.op_type for node in model.graph.node})
        raise NotApplicable(
            f"nothing to quantise: the {family} graph has no MatMul/Gemm/Conv (ops: {', '.join(ops)}); "
            "int8 would change nothing"
        )


def quantize(model, quantization: str, job: Job, *, exclude: list[str], input_names: list[str], layout: str):
    """Return a quantised copy of ``model`` (an onnx.ModelProto)."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="edgekit-quant-") as tmp:
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "quant.onnx"
        onnx.save(model, source)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # ORT logs a "consider pre-processing" warning on root
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print progress
                _run_quantizer(quantization, source, target, job, exclude, input_names, layout)
        except Exception as exc:  # ORT raises a mix of ValueError, RuntimeError, onnx errors
            raise ConversionError(f"onnxruntime {quantization} quantisation failed: {exc}") from exc
        finally:
            root.setLevel(level)
        return onnx.load(target)


def _run_quantizer(quantization: str, source: Path, target: Path, job: Job, exclude: list[str],
                   input_names: list[str], layout: str) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    options = job.options
    if quantization == "dynamic":
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=options.per_channel,
                         nodes_to_exclude=exclude)
        return
    quantize_static(
        source, target, job.calibration.data_reader(input_names, layout),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=options.per_channel,
        calibrate_method=getattr(CalibrationMethod, _METHODS[options.calibration_method]),
        nodes_to_exclude=exclude,
    )
