"""``edgekit demo``."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.options import print_table


@click.command()
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Run folder (default: ./edgekit-runs/<timestamp>; never overwritten).")
@click.option("--quick", is_flag=True, help="Smaller search and shorter benchmark (about a minute).")
@click.option("--no-cloud", is_flag=True, help="Skip the cloud REST baseline.")
def demo(out, quick, no_cloud):
    """Run the whole lifecycle on the embedded Auto MPG data and write reports."""
    from edgekit.demo import run_demo
    from edgekit.demo_report import headline

    result = run_demo(out, quick=quick, cloud=not no_cloud)
    bench = result.bench
    rows = [(r["name"], f"{r['size_bytes'] / 1024:.1f}", r["latency_ms"]["p50"], r["metric"].get("rmse"), r["cold_start_ms"])
            for r in bench["edge"]]
    if bench["cloud"]:
        rows.append(("cloud REST (source model)", None, bench["cloud"]["latency_ms"]["p50"], None, None))
    print_table("edgekit demo: Auto MPG", ["variant", "KB", "p50 ms", "test RMSE", "cold start ms"], rows)
    for line in headline(result):
        click.echo(line.replace("**", ""))
    total = sum(result.seconds.values())
    click.echo(f"reports: {result.out / 'report.md'}, {result.out / 'report.html'}, {result.out / 'bench.json'} ({total:.0f} s)")
