"""``edgekit registry``: list, show, register, promote and roll back model versions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from edgekit.cli.options import fmt, print_table

ROOT_ENV = "EDGEKIT_REGISTRY"


def _root_option(f):
    return click.option(
        "--root", type=click.Path(path_type=Path), default=lambda: os.environ.get(ROOT_ENV, "registry"),
        show_default=f"${ROOT_ENV} or ./registry", help="Registry folder.",
    )(f)


def _open(root: Path, *, create: bool = False):
    from edgekit.monitor.registry import Registry

    return Registry(root, create=create)


@click.group()
def registry() -> None:
    """Model versions: their bundles, lineage, metrics and the production version."""


@registry.command("list")
@_root_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_versions(root, as_json):
    """List every version, oldest first."""
    versions = _open(root).list()
    if as_json:
        click.echo(json.dumps([v.to_dict() for v in versions], indent=2))
        return
    print_table(
        f"Model registry {root}",
        ["version", "stage", "parent", "created (UTC)", "model", "test metric", "notes"],
        [(v.name, _stage(v.stage), f"v{v.parent}" if v.parent else None, v.created_at[:16].replace("T", " "),
          v.model, _headline(v.metrics), v.notes) for v in versions],
    )


@registry.command()
@click.argument("version")
@_root_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def show(version, root, as_json):
    """Show VERSION (a number, vN or 'production'): metrics, lineage and history."""
    reg = _open(root)
    v = reg.show(version)
    lineage = [x.name for x in reg.lineage(v)]
    events = reg.history(v)
    if as_json:
        click.echo(json.dumps({**v.to_dict(), "lineage": lineage, "history": [e.to_dict() for e in events],
                               "intact": reg.verify(v)}, indent=2))
        return
    click.echo(f"{v.name} ({v.stage}) registered {v.created_at}")
    click.echo(f"  bundle:   {v.path}  (from {v.source})")
    click.echo(f"  model:    {v.model} ({v.task}, target {v.target})")
    click.echo(f"  lineage:  {' <- '.join(lineage)}")
    click.echo(f"  data:     {v.data_sha256}" + (f"  new data: {v.new_data_sha256}" if v.new_data_sha256 else ""))
    click.echo(f"  intact:   {'yes' if reg.verify(v) else 'NO: the bundle folder differs from its fingerprint'}")
    for split, values in v.metrics.items():
        if isinstance(values, dict):
            click.echo(f"  {split} metrics: {_metrics(values)}")
    if v.notes:
        click.echo(f"  notes:    {v.notes}")
    for e in events:
        previous = f" (was v{e.previous})" if e.previous else ""
        click.echo(f"  {e.at[:19]}  {e.action} v{e.version}{previous}" + (f": {e.reason}" if e.reason else ""))


@registry.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@_root_option
@click.option("--parent", default=None, help="The version this one was retrained from.")
@click.option("--notes", default=None)
@click.option("--promote/--no-promote", default=None, help="Make it production (default: only if there is none).")
def register(bundle, root, parent, notes, promote):
    """Copy BUNDLE into the registry as a new version."""
    v = _open(root, create=True).register(bundle, parent=parent, notes=notes, promote=promote)
    click.echo(f"registered {v.name} ({v.stage}) at {v.path}")


@registry.command()
@click.argument("version")
@_root_option
@click.option("--reason", default=None)
def promote(version, root, reason):
    """Make VERSION the production version."""
    v = _open(root).promote(version, reason=reason)
    click.echo(f"{v.name} is now production")


@registry.command()
@_root_option
@click.option("--to", "to", default=None, help="Roll back to this version instead of the previous production one.")
@click.option("--reason", default=None)
def rollback(root, to, reason):
    """Put the previous production version back."""
    v = _open(root).rollback(to=to, reason=reason)
    click.echo(f"rolled back: {v.name} is now production")


def _metrics(values: dict) -> str:
    return ", ".join(f"{k} {fmt(v)}" for k, v in values.items() if isinstance(v, (int, float))) or "-"


def _headline(metrics: dict) -> str:
    name = metrics.get("metric")
    test = metrics.get("test", {})
    return f"{name} {fmt(test[name])}" if name in test else _metrics(test)


def _stage(stage: str) -> str:
    return "[bold green]production[/bold green]" if stage == "production" else stage
