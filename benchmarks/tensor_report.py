"""bench.md and report.html sections for a model-file run (``run_files_bench``).

``report.write_reports`` dispatches here when ``report["mode"] == "files"``; bench.json
is the report itself.
"""

from __future__ import annotations

from typing import Any

from edgekit.benchmarks.report import latency_figure, throughput_figure
from edgekit.reporting import html_table, markdown_table, paragraph

LATENCY_COLUMNS = ["file", "backend", "inputs", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "mean ms", "std ms", "min ms",
                   "max ms", "warm-up mean ms", "model.run p50 ms"]
RESOURCE_COLUMNS = ["file", "size KB", "load ms", "first inference ms", "cold start ms", "cold RSS MB", "peak RSS MB",
                    "inferences/s", "rows/s @1", "rows/s @32", "rows/s @1024"]
COMPARISON_COLUMNS = ["file", "p50 ×", "p99 ×", "throughput ×", "size ×", "peak RSS ×", "cold start ×", "speedup (p50)",
                      "max abs diff (outputs)", "argmax agreement"]
CLOUD_COLUMNS = ["file", "edge p50 ms", "cloud p50 ms", "cloud p99 ms", "cloud / edge", "max inferences/s (cloud)", "errors",
                 "outputs match"]


def _ok(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in report["edge"] if r["status"] == "ok"]


def inputs_text(row: dict[str, Any]) -> str:
    return ", ".join(f"{name} {feed['shape']} {feed['dtype']}" + (" (file)" if feed["source"] == "file" else "")
                     for name, feed in row["feeds"].items())


def latency_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for r in _ok(report):
        lat = r["latency_ms"]
        rows.append([r["name"], r["backend"], inputs_text(r), lat["p50"], lat["p90"], lat["p95"], lat["p99"], lat["mean"],
                     lat["std"], lat["min"], lat["max"], r["warmup_mean_ms"], r["validated_latency_ms"]["p50"]])
    return rows


def resource_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for r in _ok(report):
        tp = r["throughput_rows_per_s"]
        rows.append([r["name"], r["size_bytes"] / 1024, r["load_ms"], r["first_prediction_ms"], r["cold_start_ms"],
                     r["cold_peak_rss_mb"], r["peak_rss_mb"], r["throughput_inferences_per_s"], tp.get("1"), tp.get("32"),
                     tp.get("1024")])
    return rows


def comparison_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for c in report["comparison"]["rows"]:
        q, agree = c["ratios"], c["agreement"] or {}
        rows.append([c["name"] + (" (baseline)" if c["name"] == report["comparison"]["baseline"] else ""),
                     q["p50"], q["p99"], q["throughput"], q["size"], q["peak_rss"], q["cold_start"], c["speedup_p50"],
                     agree.get("max_abs_diff"), agree.get("argmax_agreement")])
    return rows


def failed_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = [[r["name"], r["error"]] for r in report["edge"] if r["status"] != "ok"]
    rows += [[f"{c['name']} (cloud)", c["error"]] for c in report["cloud"] or [] if c["status"] != "ok"]
    return rows


def cloud_rows(report: dict[str, Any]) -> list[list[Any]]:
    edge = {r["name"]: r for r in _ok(report)}
    rows = []
    for c in report["cloud"] or []:
        if c["status"] != "ok":
            continue
        e = edge[c["name"]]["latency_ms"]["p50"]
        rows.append([c["name"], e, c["latency_ms"]["p50"], c["latency_ms"]["p99"], c["latency_ms"]["p50"] / e,
                     max(t["rows_per_s"] for t in c["throughput"]), c["errors"], c["outputs_match"]])
    return rows


def _intro(report: dict[str, Any]) -> str:
    p = report["profile"]
    return (f"Device profile {p['name']}: {p['description']}. Each file runs in a fresh process; latency is the "
            "thinnest tensor-layer call (prepared arrays through engine.raw_runner / engine.invoke, after one validated "
            "model.run) at the feed shapes shown, timed call by call; cold start is spawn → import → load → first "
            "inference. Feeds are synthetic (seed "
            f"{report['files']['seed']}) unless marked (file).")


def markdown(report: dict[str, Any]) -> str:
    comparison = report["comparison"]
    lines = [f"# Benchmark: {len(report['edge'])} model file(s)", "", _intro(report), ""]
    if _ok(report):
        lines += ["## Latency", "", markdown_table(LATENCY_COLUMNS, latency_rows(report)), "",
                  "## Load, memory, throughput", "", markdown_table(RESOURCE_COLUMNS, resource_rows(report)), ""]
    if len(comparison["rows"]) > 1:
        lines += [f"## Against {comparison['baseline']}", "", markdown_table(COMPARISON_COLUMNS, comparison_rows(report)),
                  "", f"{comparison['rule']}. Output differences only where two files got identical feeds.", ""]
        if comparison.get("note"):
            lines += [comparison["note"], ""]
    if report["cloud"] is not None:
        lines += ["## Same files behind edgekit serve (KServe V2, loopback)", "",
                  markdown_table(CLOUD_COLUMNS, cloud_rows(report)), ""]
    failed = failed_rows(report)
    if failed:
        lines += ["## Failed", "", markdown_table(["file", "reason"], failed), ""]
    if comparison.get("fastest"):
        lines += [f"**Fastest p50: {comparison['fastest']}.**"]
    return "\n".join(lines) + "\n"


def plots(report: dict[str, Any]) -> list[str]:
    ok = _ok(report)
    if not ok:
        return []
    figures = [latency_figure([r["latency_samples_ms"] for r in ok], [r["name"] for r in ok],
                              "latency per inference, ms (log)", "Latency distribution per file")]
    batched = [r for r in ok if r["throughput_rows_per_s"]]
    if batched:
        figures.append(throughput_figure(batched, None, "batch size"))
    return figures


def html_sections(report: dict[str, Any]) -> list[tuple[str, str]]:
    comparison = report["comparison"]
    sections = []
    if _ok(report):
        sections += [("Latency", paragraph(_intro(report)) + html_table(LATENCY_COLUMNS, latency_rows(report))),
                     ("Load, memory, throughput", html_table(RESOURCE_COLUMNS, resource_rows(report)))]
    if len(comparison["rows"]) > 1:
        sections.append((f"Against {comparison['baseline']}", html_table(COMPARISON_COLUMNS, comparison_rows(report))
                         + paragraph(comparison["rule"] + ".", "note")
                         + (paragraph(comparison["note"], "note") if comparison.get("note") else "")))
    if report["cloud"] is not None:
        sections.append(("Behind edgekit serve (KServe V2, loopback)", html_table(CLOUD_COLUMNS, cloud_rows(report))))
    failed = failed_rows(report)
    if failed:
        sections.append(("Failed", html_table(["file", "reason"], failed)))
    figures = plots(report)
    if figures:
        sections.append(("Plots", "".join(figures)))
    return sections


def title(report: dict[str, Any]) -> str:
    names = [r["name"] for r in report["edge"]]
    return "edgekit benchmark: " + (", ".join(names[:3]) + (" …" if len(names) > 3 else ""))

