"""``edgekit bench``."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.options import csv_list, print_table


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--exports", type=click.Path(path_type=Path), multiple=True, help="Exports folder, repeatable (default: BUNDLE/exports).")
@click.option("--profile", default="desktop", show_default=True, help="Device profile: desktop, phone, pi-zero, mcu-like.")
@click.option("--network", default="loopback,wifi,4g,3g", show_default=True, help="Network profiles for the cloud side.")
@click.option("--runs", type=click.IntRange(1), default=None, help="Timed runs per variant (default 1000; 300 with --quick).")
@click.option("--url", default=None, help="Benchmark this V2 endpoint instead of starting edgekit serve.")
@click.option("--model-name", default="model", show_default=True, help="Model name at the V2 endpoint.")
@click.option("--no-cloud", is_flag=True, help="Measure the exports only.")
@click.option("--quick", is_flag=True, help="Fewer runs and shorter load phases (about a minute).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Report folder (default: BUNDLE/bench).")
def bench(bundle, exports, profile, network, runs, url, model_name, no_cloud, quick, out):
    """Benchmark BUNDLE's exports on-device against the cloud REST baseline."""
    from edgekit.benchmarks.api import BenchOptions, run_bench
    from edgekit.benchmarks.report import write_reports

    options = BenchOptions(exports=tuple(exports) or None, profile=profile, networks=csv_list(network), runs=runs, quick=quick,
                           url=url, model_name=model_name, cloud=not no_cloud)
    report = run_bench(bundle, options)
    out = out or bundle / "bench"
    write_reports(report, out)
    show_summary(report)
    click.echo(f"reports written to {out} (bench.json, bench.md, report.html)")


def show_summary(report) -> None:
    rows = [(r["name"], r["size_bytes"] / 1024, r["latency_ms"]["p50"], r["latency_ms"]["p99"],
             r["throughput_rows_per_s"].get("1024"), r["cold_start_ms"], r["cold_peak_rss_mb"]) for r in report["edge"]]
    cloud = report["cloud"]
    if cloud:
        rows.append(("cloud (REST, loopback)", None, cloud["latency_ms"]["p50"], cloud["latency_ms"]["p99"],
                     max(t["rows_per_s"] for t in cloud["throughput"]), None, None))
    print_table(f"Benchmark ({report['profile']['name']}: {report['profile']['description']})",
                ["variant", "KB", "p50 ms", "p99 ms", "max rows/s", "cold start ms", "cold RSS MB"], rows)
    comparison = report["comparison"]
    line = f"recommended for {report['profile']['name']}: {comparison['recommended']} (p50 {comparison['recommended_p50_ms']:.3g} ms)"
    for c in comparison.get("per_network", []):
        line += f"; {c['speedup']:.0f}x faster than the cloud on {c['network']}" + (" (modelled)" if c["method"] == "modelled" else "")
    click.echo(line)
    if cloud and cloud.get("batching"):
        b = cloud["batching"]
        click.echo(f"micro-batching at concurrency {b['concurrency']}: {b['ratio']:.2f}x the throughput of no batching")
