"""``edgekit convert``: a bundle, or a model edgekit did not train (.keras, SavedModel, .onnx, .tflite)."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.options import csv_list, print_table

FOREIGN_ONLY = ("--calibration", "--eval", "--eval-labels")


@click.command()
@click.argument("bundle", metavar="PATH", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: BUNDLE/exports, or <name>-exports beside a foreign model).")
@click.option("--to", "formats", default=None,
              help="Formats: tflite,onnx,tflm (default: tflite,onnx, every one the model supports; "
                   "tflm = microcontroller: TFLite Micro or emlearn C).")
@click.option("--quantize", default=None, help="fp32,fp16,dynamic,int8 (default: every one that applies).")
@click.option("--calibration", type=click.Path(path_type=Path), default=None,
              help="Foreign models: .npz with one array per model input, named like it, for static int8.")
@click.option("--eval", "eval_data", type=click.Path(path_type=Path), default=None,
              help="Foreign models: .npz the gate compares exports on (default: the calibration arrays).")
@click.option("--eval-labels", type=click.Path(path_type=Path), default=None,
              help="Foreign models: .npy of class indices for the --eval rows (adds accuracy).")
@click.option("--calibration-rows", type=click.IntRange(1), default=None, help="Rows for int8 calibration (default: all, up to 5000).")
@click.option("--calibration-method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax", show_default=True,
              help="ONNX static quantisation calibration.")
@click.option("--per-channel", is_flag=True, help="Per-channel weights for ONNX quantisation.")
@click.option("--int8-io", type=click.Choice(["float", "int8", "uint8"]), default="float", show_default=True,
              help="TFLite int8 input/output type; bundles: 'int8' moves preprocessing into the runtime; "
                   "foreign models: int8 or uint8 integer I/O.")
@click.option("--max-degradation", type=float, default=2.0, show_default=True,
              help="Allowed loss in percent: of the task metric (bundles), of top-1 agreement (foreign models).")
@click.option("--target-runtime", type=click.Choice(["litert", "tflite-runtime-2.14", "onnxruntime"]), default=None,
              help="Produce files this runtime can load.")
@click.option("--allow-degraded", is_flag=True, help="Exit 0 even if an export fails the gate.")
@click.option("--mcu-ram", default=None, metavar="SIZE",
              help="--to tflm: RAM budget for the tensor arena, e.g. 256KB (KB = 1024 bytes; the model only).")
@click.option("--mcu-flash", default=None, metavar="SIZE",
              help="--to tflm: flash budget for the model, e.g. 1MB (the TFLM library and firmware come on top).")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
def convert(bundle, out, formats, quantize, calibration, eval_data, eval_labels, calibration_rows, calibration_method,
            per_channel, int8_io, max_degradation, target_runtime, allow_degraded, mcu_ram, mcu_flash, force):
    """Export PATH to TFLite / ONNX, quantise, and gate every export against the source model.

    PATH is an edgekit bundle, a .keras file, a TensorFlow SavedModel folder, or a float
    .onnx / .tflite file.
    """
    from edgekit.convert.foreign import foreign_kind
    from edgekit.runtime.errors import ConfigError

    wanted = csv_list(formats)
    mcu = "tflm" in wanted
    formats = ",".join(f for f in wanted if f != "tflm")
    if (mcu_ram or mcu_flash) and not mcu:
        raise ConfigError("--mcu-ram/--mcu-flash are budgets for microcontroller targets", hint="add --to tflm")
    if mcu and not formats:
        # Microcontroller targets only: they make the int8 files they need themselves.
        from edgekit.cli.convert_mcu import run_mcu

        result = run_mcu(bundle, out, None, mcu_ram=mcu_ram, mcu_flash=mcu_flash, eval_data=eval_data,
                         eval_labels=eval_labels, calibration=calibration, max_degradation=max_degradation, force=force)
        _fail_on_mcu(result, allow_degraded)
        return
    common = dict(formats=csv_list(formats) or None, quantizations=csv_list(quantize) or None,
                  calibration_rows=calibration_rows, calibration_method=calibration_method, per_channel=per_channel,
                  int8_io=int8_io, max_degradation=max_degradation, target_runtime=target_runtime,
                  allow_degraded=allow_degraded)
    from edgekit.train.image_bundle import is_image_bundle

    if is_image_bundle(bundle):
        from edgekit.cli.convert_images import convert_images

        report = convert_images(bundle, out, common, (calibration, eval_data, eval_labels), force)
    elif foreign_kind(bundle) is not None:
        report = _convert_foreign(bundle, out, common, calibration, eval_data, eval_labels, force)
    else:
        given = [name for name, value in zip(FOREIGN_ONLY, (calibration, eval_data, eval_labels)) if value is not None]
        if given:
            raise ConfigError(f"{', '.join(given)}: only for foreign models (.keras, SavedModel, .onnx, .tflite)",
                              hint="a bundle calibrates on its training split and gates on its test split")
        report = _convert_bundle(bundle, out, common, force)
    if mcu:
        from edgekit.cli.convert_mcu import run_mcu

        result = run_mcu(bundle, out, report, mcu_ram=mcu_ram, mcu_flash=mcu_flash, eval_data=eval_data,
                         eval_labels=eval_labels, calibration=calibration, max_degradation=max_degradation, force=force)
        _fail_on_rejected(report, allow_degraded)
        _fail_on_mcu(result, allow_degraded)
        return
    _fail_on_rejected(report, allow_degraded)


def _fail_on_mcu(result, allow_degraded: bool) -> None:
    from edgekit.runtime.errors import ParityError

    if not result.passed and not allow_degraded:
        names = ", ".join(r.name for r in result.failed)
        raise ParityError(f"{len(result.failed)} MCU target(s) failed: {names}", hint="see mcu.md; --allow-degraded to accept")


def _convert_bundle(bundle, out, common, force):
    from edgekit.convert import ConvertOptions
    from edgekit.convert import convert as run_convert

    options = ConvertOptions(**common)
    report = run_convert(bundle, out, options, force=force)
    show_report(report)
    click.echo(f"exports written to {report.out} (conversion.md, conversion.json)")
    if options.target_runtime == "tflite-runtime-2.14":
        click.echo("note: int8 TFLite files use per-tensor dense quantisation so tflite-runtime 2.14 can load them")
    return report


def _convert_foreign(path, out, common, calibration, eval_data, eval_labels, force):
    from edgekit.convert.foreign import ForeignOptions, convert_foreign

    options = ForeignOptions(calibration=calibration, eval=eval_data, eval_labels=eval_labels, **common)
    report = convert_foreign(path, out, options, force=force)
    show_foreign_report(report)
    return report


def show_foreign_report(report) -> None:
    from edgekit.convert.foreign.report import COLUMNS

    source = report.source
    print_table(f"Exports of {source['file']} ({source['kind']}; gate on {report.gate['rows']} rows of "
                f"{report.gate['inputs']})", COLUMNS, report.rows())
    for result in report.results:
        if result.reason:
            click.echo(f"{result.name} ({result.status}): {result.reason}")
    click.echo(f"exports written to {report.out} (conversion.md, conversion.json)")


def _fail_on_rejected(report, allow_degraded: bool) -> None:
    from edgekit.runtime.errors import ParityError

    if report.rejected and not allow_degraded:
        names = ", ".join(r.name for r in report.rejected)
        raise ParityError(f"{len(report.rejected)} export(s) failed: {names}", hint="see conversion.md; --allow-degraded to accept")


def show_report(report) -> None:
    from edgekit.convert.report import COLUMNS

    print_table(f"Exports of {report.source['name']} ({report.source['family']}, {report.source['task']})", COLUMNS, report.rows())
