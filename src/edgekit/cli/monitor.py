"""``edgekit monitor``: drift and performance checks of a prediction log.

Exit codes: 0 ok, 1 warn, 3 alert; 2 when the check cannot run (missing log, bundle
without a model card, bad option), 4 when it failed unexpectedly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from edgekit.cli.options import fmt, print_table

FAILED_EXIT_CODE = 4


@click.command()
@click.argument("log", type=click.Path(path_type=Path))
@click.option("--bundle", required=True, type=click.Path(path_type=Path), help="The bundle the logged model was exported from.")
@click.option("--actuals", type=click.Path(path_type=Path), default=None, help="CSV/Parquet of true outcomes, joined on request id.")
@click.option("--id-column", default="request_id", show_default=True, help="Request id column in --actuals.")
@click.option("--target-column", default=None, help="Outcome column in --actuals (default: the card's target).")
@click.option("--window", type=click.IntRange(1), default=200, show_default=True, help="Rows with actuals per metric window.")
@click.option("--metric", default=None, help="Metric to grade (default: the card's selection metric).")
@click.option("--model-id", default=None, help="Only rows of this export (sha256 or a prefix of 8+ characters).")
@click.option("--last", type=click.IntRange(1), default=None, help="Only the most recent N logged rows.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("monitor-report"), show_default=True,
              help="Folder for monitor.json, monitor.md and monitor.html.")
@click.option("--psi-warn", type=float, default=0.1, show_default=True)
@click.option("--psi-alert", type=float, default=0.25, show_default=True)
@click.option("--no-psi-noise", is_flag=True, help="Grade PSI with the fixed thresholds only, however few rows.")
@click.option("--ks-alpha", type=float, default=0.01, show_default=True, help="KS p-value below which a feature warns.")
@click.option("--ks-alpha-alert", type=float, default=0.001, show_default=True)
@click.option("--chi2-alpha", type=float, default=0.01, show_default=True, help="Chi-square p-value below which a feature warns.")
@click.option("--chi2-alpha-alert", type=float, default=0.001, show_default=True)
@click.option("--metric-warn", type=float, default=0.10, show_default=True, help="Relative metric degradation that warns.")
@click.option("--metric-alert", type=float, default=0.20, show_default=True)
@click.option("--no-plots", is_flag=True, help="Leave the plots out of monitor.html (faster).")
def monitor(log, bundle, actuals, id_column, target_column, window, metric, model_id, last, out, psi_warn, psi_alert,
            no_psi_noise, ks_alpha, ks_alpha_alert, chi2_alpha, chi2_alpha_alert, metric_warn, metric_alert, no_plots):
    """Check LOG (a prediction log) for input, prediction and performance drift against BUNDLE's training data.

    Numeric features and regression predictions: PSI on the model card's decile bins and
    a KS test against the training rows; categorical ones: PSI and chi-square. With
    --actuals (joined on request id): the card's metric per window of --window rows,
    the latest window graded against the test split.

    An image bundle (its log holds per-image statistics, never pixels): brightness,
    contrast, sharpness, clipped shares and edge orientation (and RGB channel mean/std)
    against the training images, predicted classes and confidence against the logged
    model's answers on the test split; --actuals give accuracy per window (target
    column 'label').

    Exit code 0 when every check is ok, 1 on a warning, 3 on an alert; 2 when the
    check cannot run (missing log, bundle without a card, bad option), 4 on a failure."""
    from edgekit.runtime.errors import DataError, EdgekitError

    try:
        from edgekit.monitor.api import run_monitor
        from edgekit.monitor.drift import Thresholds

        thresholds = Thresholds(
            psi_warn=psi_warn, psi_alert=psi_alert, psi_noise=None if no_psi_noise else (0.99, 0.999),
            ks_alpha=ks_alpha, ks_alpha_alert=ks_alpha_alert, chi2_alpha=chi2_alpha, chi2_alpha_alert=chi2_alpha_alert,
            metric_warn=metric_warn, metric_alert=metric_alert,
        )
        report = run_monitor(
            log, bundle, actuals=actuals, id_column=id_column, target_column=target_column, window=window,
            metric=metric, thresholds=thresholds, model_id=model_id, last=last, out=out, plots=not no_plots,
        )
    except EdgekitError as exc:
        if exc.exit_code == 2:
            raise
        # Exit 1 means "warn" here: any failure to run the check is reported as bad input.
        raise DataError(exc.message, hint=exc.hint) from exc
    except Exception as exc:
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        failure = EdgekitError(f"monitor failed: {type(exc).__name__}: {exc}", hint="set EDGEKIT_DEBUG=1 for a traceback")
        failure.exit_code = FAILED_EXIT_CODE
        raise failure from exc
    print_summary(report)
    # SystemExit, not ctx.exit: the edgekit entry point runs click with standalone_mode=False,
    # where click returns ctx.exit's code instead of exiting with it.
    sys.exit(report.exit_code)


def print_summary(report) -> None:
    print_table(
        f"Drift: {report.rows} predictions vs the training data of {Path(report.bundle).name}",
        ["feature", "PSI", "test", "statistic", "p-value", "missing", "status"],
        [(name, psi, test, stat, p, f"{missing:.1%}", _status(status))
         for name, _, _, missing, psi, test, stat, p, status in report.drift_rows()],
    )
    perf = report.performance
    if perf is not None:
        print_table(
            f"Performance: {perf.joined_rows} predictions with actuals, windows of {perf.window}",
            ["metric", "test", "latest window", "worse by", "overall", "status"],
            [(perf.metric, perf.reference, perf.latest, f"{perf.degradation:+.1%}", fmt(perf.overall.get(perf.metric)),
              _status(perf.status))],
        )
    click.echo(f"status: {report.status} (exit {report.exit_code})")
    if report.outputs:
        click.echo(f"report written to {Path(report.outputs['html']).parent}")


def _status(status: str) -> str:
    color = {"ok": "green", "warn": "yellow", "alert": "bold red"}[status]
    return f"[{color}]{status}[/{color}]"
