"""bench.json, bench.md and report.html (with plots) from one benchmark run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.reporting import figure_html, fmt, html_page, html_table, markdown_table, paragraph, pyplot
from edgekit.runtime.io import write_text

EDGE_COLUMNS = ["variant", "size KB", "p50 ms", "p90 ms", "p99 ms", "hot path p50 ms", "rows/s @1", "rows/s @32",
                "rows/s @1024", "cold start ms", "peak RSS MB", "metric"]


def edge_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for r in report["edge"]:
        lat, hot, tp = r["latency_ms"], r.get("hot_path_latency_ms"), r["throughput_rows_per_s"]
        metric = ", ".join(f"{k} {v:.4g}" for k, v in r["metric"].items())
        rows.append([r["name"], r["size_bytes"] / 1024, lat["p50"], lat["p90"], lat["p99"], hot["p50"] if hot else None,
                     tp.get("1"), tp.get("32"), tp.get("1024"), r["cold_start_ms"], r["cold_peak_rss_mb"], metric])
    return rows


def comparison_columns(report: dict[str, Any]) -> list[str]:
    columns = ["network", "method", "best edge p50 ms", "cloud p50 ms", "edge faster by"]
    if report.get("cloud_export"):
        columns += [f"cloud p50 ms ({report['cloud_export']['export']} served)", "edge faster by"]
    return columns


def comparison_rows(report: dict[str, Any]) -> list[list[Any]]:
    comparison = report["comparison"]
    rows = []
    for c in comparison.get("per_network", []):
        row = [c["network"], c["method"], c["edge_p50_ms"], c["cloud_p50_ms"], f"{c['speedup']:.1f}x"]
        if "export_cloud_p50_ms" in c:
            row += [c["export_cloud_p50_ms"], f"{c['export_speedup']:.1f}x"]
        rows.append(row)
    return rows


def cloud_table(cloud: dict[str, Any]) -> list[str]:
    lat = cloud["latency_ms"]
    return [
        f"Latency at concurrency 1: p50 {fmt(lat['p50'])} ms, p90 {fmt(lat['p90'])} ms, p99 {fmt(lat['p99'])} ms; "
        f"request {cloud['request_bytes']} B, response {cloud['response_bytes']} B, errors {cloud['errors']}.",
        "",
        markdown_table(["concurrency", "rows/s", "requests", "errors"],
                       [[t["concurrency"], t["rows_per_s"], t["requests"], t["errors"]] for t in cloud["throughput"]]),
        "",
    ]


def markdown(report: dict[str, Any]) -> str:
    b, p = report["bundle"], report["profile"]
    cloud, comparison = report["cloud"], report["comparison"]
    lines = [
        f"# Benchmark: {b['name']} ({b['family']}, {b['task']})",
        "",
        f"Device profile **{p['name']}**: {p['description']}. Edge latency is `Model.predict` on one validated row "
        "(batch 1) in a fresh process per export; cold start is process start → import → load → first prediction.",
        "",
        "## On-device",
        "",
        markdown_table(EDGE_COLUMNS, edge_rows(report)),
        "",
    ]
    if cloud:
        lines += ["## Cloud baseline (source model behind edgekit serve, KServe V2 REST)", "", *cloud_table(cloud)]
        if cloud.get("batching"):
            bt = cloud["batching"]
            lines += [f"Micro-batching at concurrency {bt['concurrency']}: {fmt(bt['rows_per_s_on'])} rows/s on vs "
                      f"{fmt(bt['rows_per_s_off'])} off (**{bt['ratio']:.2f}x**).", ""]
        served = report.get("cloud_export")
        if served:
            lines += [f"## Cloud with the fastest export ({served['export']} behind edgekit serve --export, KServe V2 REST)",
                      "", *cloud_table(served)]
        lines += ["## Edge vs cloud", "",
                  markdown_table(comparison_columns(report), comparison_rows(report)),
                  "", "Network rows marked *modelled* add the profile's round-trip time and transfer time to the measured "
                  f"loopback latency (tc netem available here: {report['netem_available']})."]
        if comparison.get("same_model"):
            s = comparison["same_model"]
            lines += ["", f"Same model, loopback: edge {s['edge']} p50 {fmt(s['edge_p50_ms'])} ms vs cloud p50 "
                          f"{fmt(s['cloud_p50_ms'])} ms → edge is **{s['ratio']:.1f}x** faster."]
    lines += ["", f"**Recommended variant for {p['name']}: {comparison['recommended']}** ({comparison['rule']})."]
    return "\n".join(lines) + "\n"


def latency_figure(series: list[list[float]], labels: list[str], ylabel: str, caption: str) -> str:
    """Box plots of latency samples, one per label, on a log axis."""
    fig, ax = pyplot().subplots(figsize=(9, 4))
    ax.boxplot(series, showfliers=False)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    return figure_html(fig, caption)


def throughput_figure(edge: list[dict[str, Any]], cloud: dict[str, Any] | None, xlabel: str) -> str:
    """rows/s against batch size per edge row (and against concurrency for the cloud)."""
    fig, ax = pyplot().subplots(figsize=(9, 4))
    for r in edge:
        sizes = sorted(int(k) for k in r["throughput_rows_per_s"])
        ax.plot(sizes, [r["throughput_rows_per_s"][str(s)] for s in sizes], marker="o", label=r["name"])
    if cloud:
        ax.plot([t["concurrency"] for t in cloud["throughput"]], [t["rows_per_s"] for t in cloud["throughput"]],
                marker="s", linestyle="--", color="black", label="cloud (x = concurrency)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rows/s")
    ax.legend(fontsize=7)
    return figure_html(fig, "Throughput vs batch size")


def plots(report: dict[str, Any]) -> list[str]:
    plt = pyplot()
    edge, cloud = report["edge"], report["cloud"]
    served = report.get("cloud_export")
    series = [r["latency_samples_ms"] for r in edge] + ([cloud["latency_samples_ms"]] if cloud else [])
    labels = [r["name"] for r in edge] + (["cloud (loopback)"] if cloud else [])
    if served:
        series.append(served["latency_samples_ms"])
        labels.append(f"cloud, {served['export']} (loopback)")
    figures = [latency_figure(series, labels, "latency per request, ms (log)", "Latency distribution per variant (batch 1)"),
               throughput_figure(edge, cloud, "batch size (edge) / concurrent clients (cloud)")]

    if edge:  # empty with --device --no-local
        fig, ax = plt.subplots(figsize=(7, 4))
        metric = next(iter(edge[0]["metric"]))
        for r in edge:
            ax.scatter(r["size_bytes"] / 1024, r["metric"][metric])
            ax.annotate(r["name"], (r["size_bytes"] / 1024, r["metric"][metric]), fontsize=7)
        ax.set_xlabel("file size, KB")
        ax.set_ylabel(f"test {metric}")
        figures.append(figure_html(fig, f"Size vs task metric ({metric})"))

    rows = report["comparison"].get("per_network", [])
    if rows:
        fig, ax = plt.subplots(figsize=(7, 4))
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [c["edge_p50_ms"] for c in rows], width=0.4, label="best edge export")
        ax.bar([x + 0.2 for x in xs], [c["cloud_p50_ms"] for c in rows], width=0.4, label="cloud")
        ax.set_xticks(list(xs), [f"{c['network']} ({c['method']})" for c in rows])
        ax.set_yscale("log")
        ax.set_ylabel("p50 latency, ms (log)")
        ax.legend()
        figures.append(figure_html(fig, "Edge vs cloud per network profile"))
    return figures


def html_sections(report: dict[str, Any]) -> list[tuple[str, str]]:
    p = report["profile"]
    sections = [("On-device", paragraph(f"Profile {p['name']}: {p['description']}.") + html_table(EDGE_COLUMNS, edge_rows(report)))]
    if report["cloud"]:
        sections.append(("Edge vs cloud", html_table(comparison_columns(report), comparison_rows(report))
                         + paragraph("Modelled rows add round-trip and transfer time to measured loopback latency.", "note")))
    sections.append(("Plots", "".join(plots(report))))
    return sections


def write_reports(report: dict[str, Any], out: Path) -> None:
    """bench.json, bench.md and report.html for a bundle run or a model-file run (``mode: files``)."""
    if report.get("mode") == "files":
        from edgekit.benchmarks import tensor_report

        md, title, sections = tensor_report.markdown(report), tensor_report.title(report), tensor_report.html_sections(report)
    else:
        md, title, sections = markdown(report), f"edgekit benchmark: {report['bundle']['name']}", html_sections(report)
    if "device" in report:  # bench --device: the remote device beside this machine and the cloud
        from edgekit.benchmarks import remote_report

        md += "\n" + remote_report.markdown(report)
        sections = remote_report.html_sections(report) + sections
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "bench.json", json.dumps(report, indent=2))
    write_text(out / "bench.md", md)
    write_text(out / "report.html", html_page(title, sections))
