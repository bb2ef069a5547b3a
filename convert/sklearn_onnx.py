"""scikit-learn pipeline -> ONNX with skl2onnx: one input per raw column.

The whole pipeline (imputers, one-hot encoders, scaler, model) is converted; numeric
columns are float32 inputs (the pipeline was trained on float32 too, so tree thresholds
compare identically), string columns string inputs. Classifiers output plain ``label``
and ``probabilities`` (no ZipMap); regressors ``prediction``.
"""

from __future__ import annotations

from edgekit.convert import skl2onnx_compat
from edgekit.convert.base import Artifact, Job, NotApplicable
from edgekit.convert.onnx_quant import quantize, require_quantizable
from edgekit.runtime.errors import ConversionError

OPSET = {"": 17, "ai.onnx.ml": 3}


class SklearnToOnnx:
    format = "onnx"
    quantizations = ("fp32", "dynamic", "int8")

    def tools(self) -> dict[str, str]:
        import onnx
        import onnxruntime
        import skl2onnx

        return {"skl2onnx": skl2onnx.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}

    def convert(self, job: Job, quantization: str) -> Artifact:
        family = job.bundle.card.winner.get("title", "scikit-learn")
        if quantization == "fp16":
            raise NotApplicable("fp16 ONNX is not offered: onnxruntime's CPU provider lacks fp16 kernels")
        model = self.float_model(job)
        outputs = ("prediction",) if job.task == "regression" else ("label", "probabilities")
        if quantization == "fp32":
            return Artifact(model, "columns", outputs, {"scheme": "fp32"})
        require_quantizable(model, family)
        names = [i.name for i in model.graph.input]
        quantized = quantize(model, quantization, job, exclude=[], input_names=names, layout="columns")
        return Artifact(quantized, "columns", outputs, {"scheme": quantization, "per_channel": job.options.per_channel})

    def float_model(self, job: Job):
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType

        skl2onnx_compat.apply()
        schema = job.bundle.card.schema
        pipeline = job.bundle.model
        initial = [(f.name, StringTensorType([None, 1]) if f.is_string else FloatTensorType([None, 1])) for f in schema]
        options = None
        if job.task == "classification":
            options = {id(pipeline.steps[-1][1]): {"zipmap": False}}
        try:
            model = convert_sklearn(pipeline, initial_types=initial, target_opset=OPSET, options=options)
        except Exception as exc:  # skl2onnx raises RuntimeError, NotImplementedError, ...
            raise ConversionError(f"skl2onnx cannot convert this pipeline: {exc}") from exc
        _restore_input_names(model, schema.names)
        if job.task == "regression":
            _rename_output(model, model.graph.output[0].name, "prediction")
        return model


def _restore_input_names(model, names: list[str]) -> None:
    """skl2onnx rewrites input names that are not identifiers ('Gewicht (kg)' ->
    'Gewicht__kg_'); the runtime feeds inputs named exactly as the schema's features."""
    renames = {i.name: name for i, name in zip(model.graph.input, names) if i.name != name}
    if not renames:
        return
    for graph_input in model.graph.input:
        graph_input.name = renames.get(graph_input.name, graph_input.name)
    for node in model.graph.node:
        node.input[:] = [renames.get(i, i) for i in node.input]


def _rename_output(model, old: str, new: str) -> None:
    if old == new:
        return
    for node in model.graph.node:
        node.output[:] = [new if o == old else o for o in node.output]
        node.input[:] = [new if i == old else i for i in node.input]
    for output in model.graph.output:
        if output.name == old:
            output.name = new
