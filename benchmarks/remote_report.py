"""The remote device next to this machine and the cloud baseline, in one table.

Used by bench.md / report.html (``report.write_reports``) and the CLI summary, for bundle
runs and model-file runs alike: one row per variant and place it was measured (the device,
this machine), then the cloud rows (edgekit serve on loopback), with each device row's
p50 as a multiple of this machine's.
"""

from __future__ import annotations

from typing import Any

from edgekit.reporting import html_table, markdown_table, paragraph

COLUMNS = ["variant", "measured on", "p50 ms", "p99 ms", "max rows/s", "cold start ms", "peak RSS MB", "load ms",
           "quality", "p50 × this machine"]
CLI_COLUMNS = ["variant", "on", "p50 ms", "p99 ms", "max rows/s", "cold ms", "RSS MB", "p50 ×"]  # a terminal's width
IDENTITY = [("architecture", "architecture"), ("CPU", "cpu_model"), ("board", "board"), ("cores", "cores"),
            ("memory MB", "memory_mb"), ("OS", "os"), ("kernel", "kernel"), ("Python", "python")]
PACKAGES = ("numpy", "ai-edge-litert", "tflite-runtime", "onnxruntime", "tensorflow")
LOOPBACK = ("127.", "::1", "localhost")


def short(identity: dict[str, Any]) -> str:
    """'aarch64, Cortex-A72, 4 cores' for a column of the table."""
    parts = [identity.get("board") or identity.get("cpu_model"), f"{identity.get('architecture')}",
             f"{identity.get('cores')} cores"]
    return ", ".join(str(p) for p in parts if p)


def max_rows_per_s(row: dict[str, Any]) -> float | None:
    values = [v for v in (row.get("throughput_rows_per_s") or {}).values() if isinstance(v, (int, float))]
    return max(values) if values else row.get("throughput_inferences_per_s")


def quality(row: dict[str, Any], entry: dict[str, Any] | None, local: bool) -> str | None:
    """Task metric (exports) or, for model files, how far the device's outputs are from this machine's."""
    if row.get("metric"):
        return ", ".join(f"{k} {v:.4g}" for k, v in row["metric"].items())
    agree = (entry or {}).get("agreement")
    if agree and not local:
        text = f"outputs vs here: max diff {agree['max_abs_diff']:.3g}"
        return text + (f", argmax {agree['argmax_agreement']:.0%}" if agree.get("argmax_agreement") is not None else "")
    return None


def measured(row: dict[str, Any], where: str, entry: dict[str, Any] | None, local: bool) -> list[Any]:
    lat = row["latency_ms"]
    ratio = (entry or {}).get("ratios", {}).get("p50") if not local else None
    return [row["name"], where, lat["p50"], lat["p99"], max_rows_per_s(row), row.get("cold_start_ms"),
            row.get("peak_rss_mb"), row.get("load_ms"), quality(row, entry, local), f"{ratio:.2f}x" if ratio else None]


def cloud_rows(report: dict[str, Any]) -> list[list[Any]]:
    cloud = report.get("cloud")
    if not cloud:
        return []
    results = cloud if isinstance(cloud, list) else [{**cloud, "status": "ok", "name": "cloud (source model)"}]
    rows = []
    for c in results:
        if c.get("status") != "ok":
            continue
        best = max((t["rows_per_s"] for t in c.get("throughput", [])), default=None)
        rows.append([c["name"], "cloud (loopback)", c["latency_ms"]["p50"], c["latency_ms"]["p99"],
                     best, None, None, None, None, None])
    return rows


def table_rows(report: dict[str, Any]) -> list[list[Any]]:
    device = report["device"]
    here = {r["name"]: r for r in report["edge"] if r.get("status", "ok") == "ok"}
    entries = {e["name"]: e for e in device.get("vs_local", [])}
    where_device, where_here = "device", "this machine"
    rows = []
    for row in device["edge"]:
        if row["status"] == "ok":
            rows.append(measured(row, where_device, entries.get(row["name"]), local=False))
        else:
            rows.append([row["name"], where_device, None, None, None, None, None, None, "failed (see below)", None])
        if row["name"] in here:
            rows.append(measured(here[row["name"]], where_here, None, local=True))
    return rows + cloud_rows(report)


def cli_rows(report: dict[str, Any]) -> list[list[Any]]:
    keep = [COLUMNS.index(c) for c in ("variant", "measured on", "p50 ms", "p99 ms", "max rows/s", "cold start ms",
                                       "peak RSS MB", "p50 × this machine")]
    return [[row[i] for i in keep] for row in table_rows(report)]


def identity_rows(device: dict[str, Any]) -> list[list[Any]]:
    there, here = device["identity"], device["this_machine"]
    rows = []
    for label, key in IDENTITY:
        a, b = there.get(key), here.get(key)
        if key == "memory_mb":
            a, b = (f"{v['total']:.0f}" if (v or {}).get("total") else None for v in (a, b))
        rows.append([label, a, b])
    for package in PACKAGES:
        a, b = there["packages"].get(package), here["packages"].get(package)
        if a or b:
            rows.append([package, a or "not installed", b or "not installed"])
    return rows


def failures(device: dict[str, Any]) -> list[list[Any]]:
    return [[r["name"], r["error"]] for r in device["edge"] if r["status"] != "ok"]


def notes(report: dict[str, Any]) -> list[str]:
    device = report["device"]
    profile = device["profile"]
    served = "each file" if report.get("mode") == "files" else "the source model"
    cloud = f"; cloud = {served} behind edgekit serve (KServe V2 REST on loopback)" if report.get("cloud") else ""
    out = [f"device = {device['url']} ({short(device['identity'])}); this machine = {short(device['this_machine'])}{cloud}. "
           "p50 × this machine = device p50 / this machine's p50.",
           f"Profile {profile['name']} on the device: {profile['description']}. The same worker modules as on this machine "
           f"(edgekit code sha256 {device['code'].get('sha256', '?')[:12]}, run from {device['code'].get('ran_from')}) ran "
           f"with the device's {device['remote_python']} in a fresh process per variant; cold start is timed on the device's clock."]
    if device["host"].startswith(LOOPBACK) or device["host"] == "localhost":
        out.append("The device is this same machine reached over loopback SSH: its figures should be close to this "
                   "machine's; differences are run-to-run noise plus the interpreter it was given.")
    if not device["host_key_checked"]:
        out.append("WARNING: the device's host key was NOT checked (--insecure-host-key).")
    removed = device.get("temp_folder_removed")
    out.append(f"Temporary folder {device['temp_folder']} on the device: {'removed' if removed else 'NOT removed'}.")
    if not report["edge"]:
        out.append("This machine was not measured (--no-local).")
    return out


def title(report: dict[str, Any]) -> str:
    return f"Remote device {report['device']['url']} vs this machine vs cloud"


def markdown(report: dict[str, Any]) -> str:
    device = report["device"]
    lines = [f"## {title(report)}", "", markdown_table(COLUMNS, table_rows(report)), "",
             *(note + "\n" for note in notes(report)),
             "### Device identity", "", markdown_table(["", "device", "this machine"], identity_rows(device)), ""]
    failed = failures(device)
    if failed:
        lines += ["### Failed on the device", "", markdown_table(["variant", "reason"], failed), ""]
    return "\n".join(lines) + "\n"


def html_sections(report: dict[str, Any]) -> list[tuple[str, str]]:
    from edgekit.benchmarks.report import latency_figure

    device = report["device"]
    body = html_table(COLUMNS, table_rows(report)) + "".join(paragraph(n, "note") for n in notes(report))
    body += html_table(["", "device", "this machine"], identity_rows(device))
    if failures(device):
        body += html_table(["variant", "reason"], failures(device))
    ok = [r for r in device["edge"] if r["status"] == "ok"]
    here = {r["name"]: r for r in report["edge"] if r.get("status", "ok") == "ok"}
    series, labels = [], []
    for row in ok:
        series.append(row["latency_samples_ms"])
        labels.append(f"{row['name']} (device)")
        if row["name"] in here:
            series.append(here[row["name"]]["latency_samples_ms"])
            labels.append(f"{row['name']} (here)")
    if series:
        body += latency_figure(series, labels, "latency, ms (log)", "Latency on the device and on this machine")
    return [(title(report), body)]


def summary_lines(report: dict[str, Any]) -> list[str]:
    """What the CLI prints after the table: notes, then one line per failure."""
    return notes(report) + [f"failed on the device: {name}: {reason}" for name, reason in failures(report["device"])]
