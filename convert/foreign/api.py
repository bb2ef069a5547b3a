"""``convert_foreign``: a model edgekit did not train in, gated, self-describing exports out.

Output layout (written as a whole, atomically; the same as for bundles)::

    OUT/conversion.json, OUT/conversion.md
    OUT/<format>-<quantisation>/model.<tflite|onnx> + manifest.json
    OUT/rejected/<format>-<quantisation>/...            exports that failed the gate

Everything the user supplies (source, calibration and eval arrays, labels, options) is
checked before the output folder exists, so a mistake writes nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

import edgekit
from edgekit.console import progress
from edgekit.convert import metadata
from edgekit.convert.base import NotApplicable
from edgekit.convert.foreign import exporters
from edgekit.convert.foreign.gate import check, collect, is_class_scores, rule_text
from edgekit.convert.foreign.options import ForeignOptions
from edgekit.convert.foreign.report import ForeignReport, VariantResult
from edgekit.convert.foreign.source import Source, foreign_kind, open_source
from edgekit.convert.foreign.tensor_data import TensorData, batch_size, load_labels, load_npz
from edgekit.runtime import load
from edgekit.runtime.errors import ConfigError, ConversionError, EdgekitError, SchemaError
from edgekit.runtime.io import atomic_directory, write_bytes, write_text
from edgekit.runtime.manifest import SIDECAR_NAME
from edgekit.runtime.tensor_manifest import TensorManifest
from edgekit.runtime.tensors import synthetic_feeds

EXTENSIONS = {"tflite": "tflite", "onnx": "onnx"}
REJECTED_DIR = "rejected"
SYNTHETIC_ROWS = 64
# Exports run one row per call, as on a device: dynamic-range int8 in onnxruntime quantises
# activations with one scale per call, so a row's output would depend on its batch mates.
EXPORT_BATCH = 1


def default_out(path: Path) -> Path:
    path = Path(path)
    return path.parent / f"{path.stem if path.is_file() else path.name}-exports"


def convert_foreign(path: str | os.PathLike, out: str | os.PathLike | None = None, options: ForeignOptions | None = None,
                    *, force: bool = False, show_progress: bool | None = None, class_names: Sequence[Any] | None = None,
                    adapter: Mapping[str, Any] | None = None) -> ForeignReport:
    """``class_names`` and ``adapter`` go into every export's manifest as its ``labels`` and
    ``adapter`` (what an adapter above the tensor layer, e.g. images, needs to know)."""
    options = options or ForeignOptions()
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file or folder")
    kind = foreign_kind(path)
    if kind is None:
        raise ConfigError(f"{path}: not a .keras file, a SavedModel folder, or a .onnx / .tflite file")
    out = Path(out) if out is not None else default_out(path)
    if out.exists() and not force:  # before TensorFlow loads: fail fast
        raise ConfigError(f"{out} already exists", hint="choose another --out, or --force to replace it")
    if out.resolve() == path.resolve() or path.resolve() in out.resolve().parents:
        raise ConfigError("--out cannot be the source or inside it")
    with open_source(path, kind) as source:
        plan = _plan(source, options)
        calibration = _calibration(source, options)
        evaluation = _evaluation(source, options, calibration)
        reference = collect(source.reference, evaluation, batch_size(source.inputs))
        labels = _labels(options, evaluation, reference)
        context = _Context(source, options, calibration, evaluation, reference, labels,
                           batch_size(source.inputs, EXPORT_BATCH), class_names, adapter)
        report = ForeignReport(
            bundle=str(path), out=str(out),
            source={**source.facts(), "inputs": [s.to_dict() for s in source.inputs],
                    "outputs": list(source.output_names)},
            options={"max_degradation": options.max_degradation, "int8_io": options.int8_io,
                     "calibration": calibration.origin if calibration else None,
                     "calibration_rows": len(calibration) if calibration else 0,
                     "calibration_method": options.calibration_method, "per_channel": options.per_channel,
                     "target_runtime": options.target_runtime},
            gate={"rows": len(evaluation), "inputs": evaluation.origin, "batch": context.batch,
                  "rule": rule_text(options.max_degradation)},
        )
        with atomic_directory(out, replace=force) as tmp, \
                progress("converting", total=len(plan), show=show_progress) as bar:
            fp32_sizes: dict[str, int] = {fmt: source.size_bytes for fmt in source.offers if "fp32" not in source.offers[fmt]}
            for fmt, quantization in plan:
                bar.advance(0, description=f"converting {fmt}-{quantization}")
                result = _export_one(tmp, fmt, quantization, context)
                if result.size_bytes:
                    result.size_vs_source = result.size_bytes / source.size_bytes
                    if quantization == "fp32":
                        fp32_sizes[fmt] = result.size_bytes
                    if fmt in fp32_sizes:
                        result.size_vs_fp32 = result.size_bytes / fp32_sizes[fmt]
                report.results.append(result)
                bar.advance()
            write_text(tmp / "conversion.json", report.to_json())
            write_text(tmp / "conversion.md", report.to_markdown())
    return report


class _Context:
    """What every variant of one run shares."""

    def __init__(self, source: Source, options: ForeignOptions, calibration: TensorData | None, evaluation: TensorData,
                 reference: dict[str, np.ndarray], labels: np.ndarray | None, batch: int,
                 class_names: Sequence[Any] | None = None, adapter: Mapping[str, Any] | None = None):
        self.source, self.options, self.calibration, self.evaluation = source, options, calibration, evaluation
        self.reference, self.labels, self.batch = reference, labels, batch
        self.class_names = tuple(class_names) if class_names is not None else None
        self.adapter = dict(adapter or {})


def _plan(source: Source, options: ForeignOptions) -> list[tuple[str, str]]:
    offered = tuple(source.offers)
    formats = options.wanted_formats(offered)
    unsupported = [f for f in formats if f not in offered]
    if unsupported:
        offers = "; ".join(f"{f} ({', '.join(q)})" for f, q in source.offers.items())
        raise ConfigError(f"a {source.kind} source cannot be exported to {', '.join(unsupported)}",
                          hint=f"it exports to: {offers}")
    wanted = options.quantizations
    plan = []
    for fmt in formats:
        for quantization in (wanted if wanted is not None else source.offers[fmt]):
            plan.append((fmt, quantization))
    if not plan:
        raise ConfigError(f"nothing to export for {source.name} with these options")
    return plan


def _calibration(source: Source, options: ForeignOptions) -> TensorData | None:
    if options.calibration is None:
        return None
    data = load_npz(options.calibration, source.inputs, option="--calibration", model=source.name)
    return data.subset(options.calibration_cap, options.seed)


def _evaluation(source: Source, options: ForeignOptions, calibration: TensorData | None) -> TensorData:
    if options.eval is not None:
        return load_npz(options.eval, source.inputs, option="--eval", model=source.name)
    if calibration is not None:
        return TensorData(calibration.arrays, f"{calibration.origin} (no --eval: the calibration rows)")
    step = batch_size(source.inputs)
    rows = step if step < SYNTHETIC_ROWS else SYNTHETIC_ROWS
    try:
        shapes = {s.name: (rows,) + tuple(d for d in s.shape[1:]) for s in source.inputs}
        feeds = synthetic_feeds(source.inputs, shapes, seed=options.seed)
    except (SchemaError, TypeError) as exc:
        raise ConfigError(f"no --eval or --calibration data, and {source.name}'s inputs have unknown dimensions "
                          "for synthetic rows", hint="pass --eval FILE.npz with one array per input") from exc
    return TensorData(feeds, "seeded synthetic inputs (no --eval or --calibration: a weak check)")


def _labels(options: ForeignOptions, evaluation: TensorData, reference: dict[str, np.ndarray]) -> np.ndarray | None:
    if options.eval_labels is None:
        return None
    if not any(is_class_scores(v) for v in reference.values()):
        shapes = {k: list(v.shape) for k, v in reference.items()}
        raise ConfigError(f"--eval-labels needs an output of class scores (2-D, last dim >= 2); the outputs are {shapes}")
    return load_labels(options.eval_labels, len(evaluation))


def _export_one(tmp: Path, fmt: str, quantization: str, ctx: _Context) -> VariantResult:
    name = f"{fmt}-{quantization}"
    result = VariantResult(name, fmt, quantization, "passed")
    started = time.perf_counter()
    folder, filename = tmp / name, f"model.{EXTENSIONS[fmt]}"
    try:
        built = exporters.build(ctx.source, fmt, quantization, ctx.calibration, ctx.options)
        raw = built.content if isinstance(built.content, bytes) else built.content.SerializeToString()
        write_bytes(folder / filename, raw)
        export = load(folder / filename, verify=False)
        outputs = collect(lambda feeds: export.run(feeds, dequantize=True), ctx.evaluation, ctx.batch)
        gate = check(ctx.reference, outputs, quantization, ctx.options.max_degradation,
                     inputs=ctx.evaluation.origin, batch=ctx.batch, labels=ctx.labels)
        manifest = TensorManifest(
            format=fmt, quantization=quantization, inputs=export.inputs, outputs=export.outputs, quant=built.quant,
            labels=ctx.class_names, adapter=ctx.adapter,
            source=ctx.source.facts(), gate=gate.to_dict(), edgekit_version=edgekit.__version__,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), tools=built.tools)
        content = metadata.embed_tflite(raw, manifest) if fmt == "tflite" else metadata.embed_onnx(built.content, manifest)
        write_bytes(folder / filename, content)
        digest = hashlib.sha256(content).hexdigest()
        sidecar = manifest.with_file_facts(file=filename, sha256=digest, size_bytes=len(content), parity=gate.to_dict())
        write_text(folder / SIDECAR_NAME, sidecar.to_json())
        _same_outputs_after_embedding(folder / filename, ctx, outputs)
    except NotApplicable as exc:
        shutil.rmtree(folder, ignore_errors=True)
        explicit = isinstance(exc, exporters.NeedsCalibration) and ctx.options.explicit_quantization(quantization)
        result.status, result.reason = ("failed" if explicit else "not_applicable"), str(exc)
        return result
    except EdgekitError as exc:  # conversion, loading or running the export: a failed row, never an abort
        shutil.rmtree(folder, ignore_errors=True)
        result.status, result.reason = "failed", str(exc)
        return result
    result.size_bytes, result.sha256, result.parity = len(content), digest, gate.to_dict()
    result.seconds = time.perf_counter() - started
    result.path = f"{name}/{filename}"
    if not gate.passed:
        result.status, result.reason = "rejected", gate.reason
        (tmp / REJECTED_DIR).mkdir(exist_ok=True)
        shutil.move(str(folder), str(tmp / REJECTED_DIR / name))
        write_text(tmp / REJECTED_DIR / name / "REJECTED.txt", f"{gate.reason}\n")
        result.path = f"{REJECTED_DIR}/{name}/{filename}"
    return result


def _same_outputs_after_embedding(path: Path, ctx: _Context, gated: dict[str, np.ndarray]) -> None:
    """The written file (verified against its sidecar) computes what the gate measured."""
    first = next(ctx.evaluation.chunks(ctx.batch))
    rows = len(next(iter(first.values())))
    again = load(path).run(first, dequantize=True)
    for name, values in again.items():
        expected = gated.get(name)
        if expected is not None and expected.ndim and not np.array_equal(values, expected[:rows]):
            raise ConversionError(f"{path.name}: output {name!r} changed when the manifest was embedded")
