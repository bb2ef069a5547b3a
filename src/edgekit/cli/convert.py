"""``edgekit convert``."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.options import csv_list, print_table


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output folder (default: BUNDLE/exports).")
@click.option("--to", "formats", default=None, help="Formats: tflite,onnx (default: every one the model supports).")
@click.option("--quantize", default=None, help="fp32,fp16,dynamic,int8 (default: every one that applies).")
@click.option("--calibration-rows", type=click.IntRange(1), default=None, help="Training rows for int8 calibration (default: all, up to 5000).")
@click.option("--calibration-method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax", show_default=True,
              help="ONNX static quantisation calibration.")
@click.option("--per-channel", is_flag=True, help="Per-channel weights for ONNX quantisation.")
@click.option("--int8-io", type=click.Choice(["float", "int8"]), default="float", show_default=True,
              help="TFLite int8 input/output type; 'int8' moves preprocessing into the runtime.")
@click.option("--max-degradation", type=float, default=2.0, show_default=True, help="Allowed relative loss of the task metric, in percent.")
@click.option("--target-runtime", type=click.Choice(["litert", "tflite-runtime-2.14", "onnxruntime"]), default=None,
              help="Produce files this runtime can load.")
@click.option("--allow-degraded", is_flag=True, help="Exit 0 even if an export fails the parity gate.")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
def convert(bundle, out, formats, quantize, calibration_rows, calibration_method, per_channel, int8_io,
            max_degradation, target_runtime, allow_degraded, force):
    """Export BUNDLE to TFLite / ONNX, quantise, and check parity against the source model."""
    from edgekit.convert import ConvertOptions
    from edgekit.convert import convert as run_convert
    from edgekit.runtime.errors import ParityError

    options = ConvertOptions(
        formats=csv_list(formats) or None, quantizations=csv_list(quantize) or None, calibration_rows=calibration_rows,
        calibration_method=calibration_method, per_channel=per_channel, int8_io=int8_io,
        max_degradation=max_degradation, target_runtime=target_runtime, allow_degraded=allow_degraded,
    )
    report = run_convert(bundle, out, options, force=force)
    show_report(report)
    click.echo(f"exports written to {report.out} (conversion.md, conversion.json)")
    if options.target_runtime == "tflite-runtime-2.14":
        click.echo("note: int8 TFLite files use per-tensor dense quantisation so tflite-runtime 2.14 can load them")
    if report.rejected and not allow_degraded:
        names = ", ".join(r.name for r in report.rejected)
        raise ParityError(f"{len(report.rejected)} export(s) failed: {names}", hint="see conversion.md; --allow-degraded to accept")


def show_report(report) -> None:
    from edgekit.convert.report import COLUMNS

    print_table(f"Exports of {report.source['name']} ({report.source['family']}, {report.source['task']})", COLUMNS, report.rows())
