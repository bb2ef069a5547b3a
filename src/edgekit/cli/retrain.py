"""``edgekit retrain``."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--data", required=True, help="New labelled data (.csv/.parquet) with the champion's features and target.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the challenger bundle and retrain report.")
@click.option("--promote-if", "policy", type=click.Choice(["better", "always", "never"]), default="better", show_default=True)
@click.option("--registry", type=click.Path(path_type=Path), default=lambda: os.environ.get("EDGEKIT_REGISTRY"),
              help="Record both versions with lineage in this registry (default: $EDGEKIT_REGISTRY, else none).")
@click.option("--holdout-fraction", type=float, default=0.3, show_default=True, help="Share of the new data kept as the fresh holdout.")
@click.option("--quick", is_flag=True, default=None, help="Smaller search than the champion's.")
@click.option("--no-bench", is_flag=True, help="Skip benchmarking the challenger's exports.")
@click.option("--force", is_flag=True, help="Replace an existing --out folder.")
def retrain(bundle, data, out, policy, registry, holdout_fraction, quick, no_bench, force):
    """Train a challenger on BUNDLE's data plus --data; promote it only if it is better."""
    from edgekit.monitor.retrain import retrain as run_retrain

    report = run_retrain(bundle, data, out, policy=policy, registry=registry, holdout_fraction=holdout_fraction,
                         quick=quick, bench=not no_bench, force=force)
    click.echo(report.to_markdown().rstrip())
    click.echo(f"challenger bundle: {out / 'bundle'}; report: {out / 'retrain.md'}")
