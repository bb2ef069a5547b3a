"""``convert_mcu``: a bundle or a .tflite file in, microcontroller artifacts and their
verdicts out.

- A Keras bundle: its full-int8 TFLite exports (float I/O with the preprocessing inside,
  and int8 I/O with the preprocessing left to the firmware), taken from ``exports`` when a
  conversion already made them, are checked in TFLite Micro on the test split.
- A scikit-learn bundle: its tree or forest goes through emlearn, with the pipeline's
  numeric preprocessing written in C too.
- A .tflite file: checked in TFLite Micro on the given inputs, or seeded random ones.

Output layout (written as a whole, atomically)::

    OUT/mcu.json, OUT/mcu.md          the rows (see mcu_report.McuReport)
    OUT/<row name>/...                C files of each row that passed
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgekit.convert.base import NotApplicable
from edgekit.convert.mcu_budget import McuBudget
from edgekit.convert.mcu_report import McuReport, McuResult
from edgekit.runtime.errors import ConfigError, ConversionError, ModelLoadError, SchemaError
from edgekit.runtime.io import atomic_directory, write_text

# (row name, --int8-io) of the TFLite exports a Keras bundle gets on a microcontroller.
KERAS_VARIANTS = (("tflm-int8", "float"), ("tflm-int8-int8io", "int8"))


def convert_mcu(source: str | os.PathLike, out: str | os.PathLike | None = None, *, budget: McuBudget | None = None,
                exports: str | os.PathLike | None = None, feeds: Any = None, y_true: np.ndarray | None = None,
                metric: Any = None, max_degradation: float = 2.0, force: bool = False) -> McuReport:
    """Check ``source`` (a bundle folder or a .tflite file) for a microcontroller and write
    the C artifacts of every row that passed to ``out``."""
    source = Path(source)
    budget = budget or McuBudget()
    if source.is_dir():
        out = Path(out) if out is not None else source / "mcu"
        rows = bundle_rows(source, budget=budget, exports=exports, max_degradation=max_degradation)
    elif source.suffix == ".tflite" and source.is_file():
        out = Path(out) if out is not None else source.with_name(f"{source.stem}-mcu")
        from edgekit.convert.tflm import check_tflm

        # Inputs that do not fit the model are the caller's mistake (SchemaError), not a row.
        rows = [_guarded((f"tflm-{source.stem}", "tflm", source.name), check_tflm, source, feeds, y_true=y_true,
                         metric=metric, budget=budget, errors=(ConversionError,))]
    else:
        raise ConfigError(f"{source}: not a bundle folder or a .tflite file",
                          hint="microcontroller targets take a trained bundle or a TFLite model")
    report = McuReport(budget)
    with atomic_directory(out, replace=force) as tmp:
        for row in rows:
            result = _write_artifacts(row, tmp)
            report.results.append(result)
        write_text(tmp / "mcu.json", report.to_json())
        write_text(tmp / "mcu.md", report.to_markdown(heading="# Microcontroller targets"))
    return report


def bundle_rows(bundle_path: Path, *, budget: McuBudget, exports: str | os.PathLike | None = None,
                max_degradation: float = 2.0) -> list:
    """One checked row per MCU target of the bundle (TflmCheck, or (McuResult, CModel))."""
    from edgekit.convert.api import _reference
    from edgekit.train.bundle import load_bundle

    bundle = load_bundle(bundle_path)
    reference = _reference(bundle)
    if bundle.framework == "keras":
        with tempfile.TemporaryDirectory(prefix="edgekit-mcu-") as scratch:
            rows = [_guarded((name, "tflm", bundle.path.name), tflm_for_export, path, reference, name=name, budget=budget,
                             max_degradation=max_degradation, source=f"{bundle.path.name} {name.removeprefix('tflm-')}")
                    for name, path in _int8_exports(bundle, exports, max_degradation, Path(scratch))]
        rows.append((McuResult("emlearn", "emlearn", source=bundle.path.name).refuse(
            "not_applicable", "emlearn takes scikit-learn trees; this bundle is a Keras network (see the TFLM rows)"), None))
        return rows
    tflm = McuResult("tflm", "tflm", source=bundle.path.name).refuse(
        "not_applicable", "TFLite Micro takes neural networks; scikit-learn models have no TFLite export (see emlearn)")
    emlearn = _guarded((f"emlearn-{bundle.card.winner['name']}", "emlearn", bundle.path.name), emlearn_for_bundle,
                       bundle, reference, budget=budget, max_degradation=max_degradation)
    return [(tflm, None), emlearn]


def _guarded(row: tuple[str, str, str], check, *args, errors=(ConversionError, ModelLoadError, SchemaError), **kwargs):
    """One target that cannot be produced is a failed row (``row``: name, target, source),
    never the end of the run."""
    try:
        return check(*args, **kwargs)
    except errors as exc:
        return McuResult(row[0], row[1], source=row[2]).refuse("failed", str(exc)), None


def _int8_exports(bundle, exports, max_degradation: float, scratch: Path) -> list[tuple[str, Path]]:
    """The bundle's int8 TFLite files: the one a conversion made when ``exports`` is given,
    else both variants, converted now into ``scratch``."""
    if exports is not None:
        path = Path(exports) / "tflite-int8" / "model.tflite"
        if not path.is_file():
            raise ConfigError(f"{exports}: no passed tflite-int8 export to check on a microcontroller",
                              hint="convert with --quantize int8, or leave out the exports folder")
        from edgekit.runtime.loader import read_manifest

        manifest = read_manifest(path, required=False)
        io = (manifest.quant or {}).get("io", "float") if manifest is not None else "float"
        return [(dict((v, k) for k, v in KERAS_VARIANTS)[io], path)]
    from edgekit.convert import ConvertOptions
    from edgekit.convert import convert as run_convert

    made = []
    for name, io in KERAS_VARIANTS:
        options = ConvertOptions(formats=("tflite",), quantizations=("int8",), int8_io=io,
                                 max_degradation=max_degradation, allow_degraded=True)
        report = run_convert(bundle, scratch / io, options, show_progress=False)
        result = report.results[0]
        if result.path is None:
            raise ConversionError(f"the int8 TFLite export failed ({result.status}): {result.reason}")
        made.append((name, scratch / io / result.path))
    return made


def tflm_for_export(path: Path, reference, *, name: str, budget: McuBudget, max_degradation: float = 2.0,
                    source: str | None = None):
    """TFLM check of an edgekit tabular export on the bundle's test split."""
    from edgekit.convert.tflm import check_tflm
    from edgekit.runtime import load
    from edgekit.runtime.inputs import to_matrix

    model = load(path, verify=False)
    x = to_matrix(reference.features, model.schema)
    if model.manifest.preprocessing is not None:  # int8-I/O exports: the runtime (firmware) prepares rows
        x = model.manifest.preprocessing.apply(x)
    return check_tflm(path, [x], name=name, y_true=reference.y_true, metric=reference.metric,
                      source_metric=reference.score(reference.outputs), target_scale=reference.target_scale,
                      max_degradation=max_degradation, budget=budget, source=source)


def emlearn_for_bundle(bundle, reference, *, budget: McuBudget, max_degradation: float = 2.0):
    """emlearn check of a scikit-learn bundle, preprocessing included, on its test split."""
    from edgekit.convert.emlearn_c import check_emlearn
    from edgekit.convert.emlearn_prep import from_pipeline

    card = bundle.card
    name = f"emlearn-{card.winner['name']}"
    strings = [f.name for f in card.schema if f.is_string]
    if strings:
        return McuResult(name, "emlearn", source=bundle.path.name).refuse(
            "not_applicable", f"string feature(s) {strings} have no C encoding; retrain with numeric features"), None
    try:
        estimator, prepare = from_pipeline(bundle.model, card.schema.names)
    except NotApplicable as exc:
        return McuResult(name, "emlearn", source=bundle.path.name).refuse("not_applicable", str(exc)), None
    x = np.column_stack([np.asarray(reference.features[n], dtype=np.float32) for n in card.schema.names])
    expected, y_true = reference.outputs, reference.y_true
    if card.task != "regression":
        # emlearn answers with an index into estimator.classes_; the reference uses the card's label order.
        expected, y_true = _to_class_order(estimator, card.labels, np.argmax(expected, axis=1), y_true)
    return check_emlearn(estimator, x, expected, name=name, prepare=prepare, y_true=y_true, metric=reference.metric,
                         source_metric=reference.score(reference.outputs), target_scale=reference.target_scale,
                         max_degradation=max_degradation, budget=budget, source=bundle.path.name)


def _to_class_order(estimator, labels: Sequence, *indices: np.ndarray) -> list[np.ndarray]:
    position = {str(label): i for i, label in enumerate(labels)}
    classes = getattr(estimator, "classes_", ())
    order = np.asarray([position[str(c)] for c in classes])
    inverse = np.empty(len(labels), dtype=np.int64)
    inverse[order] = np.arange(len(order))
    return [inverse[np.asarray(i, dtype=np.int64)] for i in indices]


def _write_artifacts(row, folder: Path) -> McuResult:
    from edgekit.convert.tflm import TflmCheck

    if isinstance(row, TflmCheck):
        result = row.result
        if result.status == "passed":
            from edgekit.convert.tflm_artifacts import write_tflm_artifacts

            write_tflm_artifacts(row, folder / result.name)
            result.artifacts = result.name
        return result
    result, model = row
    if result.status == "passed" and model is not None:
        from edgekit.convert.emlearn_artifacts import write_emlearn_artifacts

        write_emlearn_artifacts(model, result, folder / result.name)
        result.artifacts = result.name
    return result
