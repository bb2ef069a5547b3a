"""``edgekit convert ... --to tflm``: microcontroller targets after (or instead of) the
TFLite/ONNX exports. Bundles go through ``edgekit.convert.mcu.convert_mcu`` (Keras: TFLite
Micro; scikit-learn trees: emlearn C); a foreign model's passing full-int8 TFLite export,
or a .tflite file itself, is checked in TFLite Micro on the ``--eval`` rows."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.options import print_table


def run_mcu(path: Path, out: Path | None, report, *, mcu_ram: str | None, mcu_flash: str | None,
            eval_data: Path | None, eval_labels: Path | None, calibration: Path | None,
            max_degradation: float, force: bool):
    """Run the MCU targets; ``report`` is the TFLite/ONNX conversion that ran first, or None."""
    from edgekit.convert.mcu import convert_mcu
    from edgekit.convert.mcu_budget import McuBudget
    from edgekit.runtime.errors import ConversionError

    budget = McuBudget.parse(mcu_ram, mcu_flash)
    feeds, y_true, metric = _rows(eval_data or calibration, eval_labels)
    bundle = path.is_dir() and (path / "model_card.json").is_file()
    if report is not None:
        target = Path(report.out) / "mcu"
    else:
        target = out or (path / "mcu" if bundle else path.with_name(f"{path.stem}-mcu"))
    if bundle:
        exports = Path(report.out) if report is not None else None
        mcu = convert_mcu(path, target, budget=budget, exports=exports, max_degradation=max_degradation, force=force)
    else:
        source = path if path.suffix == ".tflite" else _passing_int8(report)
        if source is None:
            raise ConversionError(f"{path.name}: no full-int8 TFLite export passed its gate, and TFLite Micro needs one",
                                  hint="add --to tflite,tflm --quantize int8 with --calibration FILE.npz")
        mcu = convert_mcu(source, target, budget=budget, feeds=feeds, y_true=y_true, metric=metric,
                          max_degradation=max_degradation, force=force)
    from edgekit.convert.mcu_report import COLUMNS

    print_table("Microcontroller targets", COLUMNS, mcu.rows())
    click.echo(f"MCU artifacts written to {target} (mcu.md, mcu.json)")
    return mcu


def _passing_int8(report) -> Path | None:
    if report is None:
        return None
    for result in report.results:
        if result.format == "tflite" and result.quantization == "int8" and result.status == "passed" and result.path:
            return Path(report.out) / result.path
    return None


def _rows(npz: Path | None, labels: Path | None):
    if npz is None:
        return None, None, None
    from edgekit.cli.predict_tensors import load_npy, load_npz

    feeds = load_npz(npz)
    if labels is None:
        return feeds, None, None
    from edgekit.train.metrics import get_metric

    return feeds, load_npy(labels), get_metric("accuracy", "classification")
