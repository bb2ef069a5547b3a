"""``convert``: a bundle in, self-describing exports that passed the parity gate out.

Output layout (written as a whole, atomically)::

    OUT/conversion.json, OUT/conversion.md
    OUT/<format>-<quantisation>/model.<tflite|onnx> + manifest.json
    OUT/rejected/<format>-<quantisation>/...            exports that failed the gate
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import edgekit
from edgekit.console import progress
from edgekit.convert import metadata
from edgekit.convert.base import Artifact, Job, NotApplicable, converter_for, supported_formats
from edgekit.convert.calibration import CalibrationSet
from edgekit.convert.options import DEFAULT_CALIBRATION_CAP, ConvertOptions
from edgekit.convert.parity import Reference, check
from edgekit.convert.report import ConversionReport, ExportResult
from edgekit.runtime import load as load_export
from edgekit.runtime.errors import ConfigError, ConversionError, EdgekitError
from edgekit.runtime.inputs import to_columns
from edgekit.runtime.io import atomic_directory, write_bytes, write_text
from edgekit.runtime.manifest import SIDECAR_NAME, Manifest
from edgekit.train.bundle import Bundle, load_bundle
from edgekit.train.metrics import get_metric

EXTENSIONS = {"tflite": "tflite", "onnx": "onnx"}
REJECTED_DIR = "rejected"


def convert(bundle: str | os.PathLike | Bundle, out: str | os.PathLike | None = None,
            options: ConvertOptions | None = None, *, force: bool = False,
            show_progress: bool | None = None) -> ConversionReport:
    options = options or ConvertOptions()
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    card = bundle.card
    plan = _plan(bundle, options)
    out = Path(out) if out is not None else bundle.path / "exports"
    if out.resolve() == bundle.path.resolve():
        raise ConfigError("--out cannot be the bundle folder itself", hint="the default is BUNDLE/exports")
    reference = _reference(bundle)
    calibration = CalibrationSet.from_frame(bundle.split("train"), card.schema, rows=options.calibration_rows,
                                            cap=DEFAULT_CALIBRATION_CAP, seed=options.seed)
    job = Job(bundle, calibration, options)
    source_sha = bundle.model_sha256
    report = ConversionReport(
        bundle=str(bundle.path), out=str(out),
        source={"name": bundle.path.name, "framework": card.framework, "family": card.winner["name"],
                "title": card.winner.get("title"), "task": card.task, "metric": reference.metric.name,
                "test_rows": int(len(reference.y_true)), "sha256": source_sha},
        options={"max_degradation": options.max_degradation, "calibration_rows": len(calibration),
                 "calibration_method": options.calibration_method, "per_channel": options.per_channel,
                 "int8_io": options.int8_io, "target_runtime": options.target_runtime},
    )
    with atomic_directory(out, replace=force) as tmp, progress("converting", total=len(plan), show=show_progress) as bar:
        fp32_sizes: dict[str, int] = {}
        for fmt, quantization, converter in plan:
            name = f"{fmt}-{quantization}"
            bar.advance(0, description=f"converting {name}")
            result = _export_one(tmp, name, fmt, quantization, converter, job, reference, source_sha, options)
            if result.size_bytes and quantization == "fp32":
                fp32_sizes[fmt] = result.size_bytes
            if result.size_bytes and fmt in fp32_sizes:
                result.size_vs_fp32 = result.size_bytes / fp32_sizes[fmt]
            report.results.append(result)
            bar.advance()
        write_text(tmp / "conversion.json", report.to_json())
        write_text(tmp / "conversion.md", report.to_markdown())
    return report


def _plan(bundle: Bundle, options: ConvertOptions) -> list[tuple[str, str, object]]:
    framework = bundle.framework
    plan = []
    for fmt in options.wanted_formats():
        if fmt not in supported_formats(framework):
            if options.formats is not None:
                converter_for(framework, fmt)  # raises ConfigError listing what is supported
            continue
        converter = converter_for(framework, fmt)
        for quantization in options.wanted_quantizations():
            plan.append((fmt, quantization, converter))
    if not plan:
        raise ConfigError(f"nothing to export for a {framework} model with these options",
                          hint=f"{framework} models export to {', '.join(supported_formats(framework))}")
    return plan


def _reference(bundle: Bundle) -> Reference:
    card = bundle.card
    test = bundle.split("test")
    features = to_columns({f.name: test[f.name].to_numpy() for f in card.schema}, card.schema)
    source = bundle.source_model()
    outputs = source.predict_columns(features)
    if card.task == "regression":
        y_true = test[card.target].to_numpy(dtype=np.float64)
        scale = float(bundle.split("train")[card.target].std()) or 1.0
    else:
        index = {str(label): i for i, label in enumerate(card.labels)}
        y_true = np.asarray([index[str(v)] for v in test[card.target]], dtype=np.int64)
        scale = 1.0
    return Reference(features, y_true, outputs, get_metric(card.metric["name"], card.task), scale)


def _export_one(tmp: Path, name: str, fmt: str, quantization: str, converter, job: Job, reference: Reference,
                source_sha: str, options: ConvertOptions) -> ExportResult:
    result = ExportResult(name, fmt, quantization, "passed")
    started = time.perf_counter()
    try:
        artifact = converter.convert(job, quantization)
    except NotApplicable as exc:
        result.status, result.reason = "not_applicable", str(exc)
        return result
    except ConversionError as exc:
        result.status, result.reason = "failed", str(exc)
        return result
    except Exception as exc:  # noqa: BLE001 - a converter's own crash fails this variant, not the run
        result.status, result.reason = "failed", f"the converter failed: {type(exc).__name__}: {_first_line(exc)}"
        return result
    manifest = _manifest(job, fmt, quantization, artifact, source_sha, converter.tools())
    try:
        content = (metadata.embed_tflite(artifact.content, manifest) if fmt == "tflite"
                   else metadata.embed_onnx(artifact.content, manifest))
    except Exception as exc:  # noqa: BLE001 - bytes the flatbuffer/protobuf reader cannot take
        result.status, result.reason = "failed", f"the converted file is unreadable: {type(exc).__name__}: {_first_line(exc)}"
        return result
    folder = tmp / name
    filename = f"model.{EXTENSIONS[fmt]}"
    write_bytes(folder / filename, content)
    try:
        parity = check(load_export(folder / filename, verify=False), reference, quantization, options.max_degradation)
    except EdgekitError as exc:  # written, but its runtime refuses it (e.g. XNNPACK cannot prepare it)
        result.status, result.reason = "failed", f"the runtime cannot run the export: {exc}"
        result.size_bytes = len(content)
        _move_to_rejected(tmp, name, folder, result.reason)
        result.path = f"{REJECTED_DIR}/{name}/{filename}"
        return result
    digest = hashlib.sha256(content).hexdigest()
    sidecar = manifest.with_file_facts(file=filename, sha256=digest, size_bytes=len(content), parity=parity.to_dict())
    write_text(folder / SIDECAR_NAME, sidecar.to_json())
    result.size_bytes, result.sha256, result.parity = len(content), digest, parity.to_dict()
    result.seconds = time.perf_counter() - started
    if parity.passed:
        result.path = f"{name}/{filename}"
    else:
        result.status, result.reason = "rejected", parity.reason
        _move_to_rejected(tmp, name, folder, parity.reason)
        result.path = f"{REJECTED_DIR}/{name}/{filename}"
    return result


def _move_to_rejected(tmp: Path, name: str, folder: Path, reason: str) -> None:
    (tmp / REJECTED_DIR).mkdir(exist_ok=True)
    shutil.move(str(folder), str(tmp / REJECTED_DIR / name))
    write_text(tmp / REJECTED_DIR / name / "REJECTED.txt", f"{reason}\n")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _manifest(job: Job, fmt: str, quantization: str, artifact: Artifact, source_sha: str, tools: dict) -> Manifest:
    card = job.bundle.card
    return Manifest(
        format=fmt,
        quantization=quantization,
        task=card.task,
        target=card.target,
        schema=card.schema,
        input_layout=artifact.input_layout,
        outputs=artifact.outputs,
        labels=tuple(card.labels) if card.labels is not None else None,
        preprocessing=artifact.preprocessing,
        quant=artifact.quant,
        source={"framework": card.framework, "family": card.winner["name"], "sha256": source_sha,
                "bundle": job.bundle.path.name, "metric": card.metric["name"],
                "test_metric": card.test_metrics.get(card.metric["name"])},
        edgekit_version=edgekit.__version__,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        tools=tools,
        ignored_columns={card.target: "the target", **dict(card.preparation.get("dropped_columns") or {})},
    )
