"""ONNX Runtime quantisation: dynamic int8 and static QDQ int8 with calibration.

Nodes that implement input preprocessing (and a regression network's output scaling) stay
in float (static QDQ of a graph that starts with normalisation collapses otherwise,
FACTS.md). With ``fuse_bias``, before static QDQ the graph goes through onnxruntime's pre-processing, which fuses
tf2onnx's MatMul + Add pairs into Gemm: the bias is then quantised as int32 with the
product of the input and weight scales instead of as a uint8 activation of its own (a
regression network's RMSE loss went from 5.8% to 1.6%). Graphs with nothing to quantise
(tree ensembles, SVMs, linear models exported as ai.onnx.ml operators) are reported as such
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


def quantize(model, quantization: str, job: Job, *, input_names: list[str], layout: str, exclude: list[str] = (),
             keep_float: tuple[str, ...] = (), fuse_bias: bool = False):
    """Return a quantised copy of ``model`` (an onnx.ModelProto).

    Nodes named in ``exclude``, or whose names contain one of ``keep_float``, stay in float;
    ``fuse_bias`` pre-processes the graph for static int8 (MatMul + Add -> Gemm)."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="edgekit-quant-") as tmp:
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "quant.onnx"
        onnx.save(model, source)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # ORT logs a "consider pre-processing" warning on root
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print progress
                if fuse_bias and quantization == "int8":
                    source = _pre_process(source, Path(tmp) / "prepared.onnx")
                names = [n.name for n in onnx.load(source).graph.node]
                missing = [part for part in keep_float if not any(part in name for name in names)]
                if missing:
                    raise ConversionError(f"no graph node is named after {', '.join(missing)} (to keep in float)")
                named = [name for name in names if any(part in name for part in keep_float)]
                _run_quantizer(quantization, source, target, job, [*exclude, *named], input_names, layout)
        except ConversionError:
            raise
        except Exception as exc:  # ORT raises a mix of ValueError, RuntimeError, onnx errors
            raise ConversionError(f"onnxruntime {quantization} quantisation failed: {exc}") from exc
        finally:
            root.setLevel(level)
        return onnx.load(target)


def _pre_process(source: Path, target: Path) -> Path:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # Symbolic shape inference knows no ai.onnx.ml operators; ONNX's own inference suffices here.
    quant_pre_process(str(source), str(target), skip_symbolic_shape=True)
    return target


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
