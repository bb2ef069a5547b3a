"""``edgekit demo``."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.options import print_table


@click.command()
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Run folder (default: ./edgekit-runs/<timestamp>; never overwritten).")
@click.option("--quick", is_flag=True, help="Smaller search and shorter benchmark (about a minute).")
@click.option("--no-cloud", is_flag=True, help="Skip the cloud REST baseline.")
@click.option("--images", is_flag=True, help="The image lifecycle on digits-images (CNN, uint8 exports, PNG requests).")
def demo(out, quick, no_cloud, images):
    """Run the whole lifecycle on the embedded Auto MPG data (or, with --images, on
    digits-images) and write reports."""
    if images:
        return _image_demo(out, quick, no_cloud)
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


def _image_demo(out, quick, no_cloud):
    from edgekit.demo_images import run_image_demo

    result = run_image_demo(out, quick=quick, cloud=not no_cloud)
    cloud = {c["name"]: c for c in result.bench["cloud"] or [] if c["status"] == "ok"}
    rows = [(r["name"], f"{r['size_bytes'] / 1024:.1f}", r["latency_ms"]["p50"], r["metric"]["accuracy"],
             cloud[r["name"]]["latency_ms"]["p50"] if r["name"] in cloud else None,
             cloud[r["name"]]["request_bytes"] if r["name"] in cloud else None)
            for r in result.bench["edge"] if r["status"] == "ok"]
    print_table("edgekit demo --images: digits-images", ["export", "KB", "p50 ms", "test accuracy", "serve p50 ms (PNG)",
                                                         "request bytes"], rows)
    total = sum(result.seconds.values())
    click.echo(f"reports: {result.out / 'report.md'}, {result.out / 'report.html'}, {result.out / 'bench.json'} ({total:.0f} s)")
