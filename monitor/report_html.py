"""monitor.json / monitor.md / monitor.html, each written atomically.

The HTML page is self-contained: plots are PNGs (matplotlib, Agg, no pyplot state)
embedded as base64; all text is escaped.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

from edgekit.monitor.report import PREDICTION, MonitorReport, _num, _pct, iso
from edgekit.runtime.errors import MissingDependencyError
from edgekit.runtime.io import write_text

COLORS = {"training": "#8da0cb", "live": "#fc8d62"}
STATUS_COLORS = {"ok": "#1a7f37", "warn": "#9a6700", "alert": "#cf222e"}


def write_report(report: MonitorReport, out: str | os.PathLike, *, plots: bool = True) -> dict[str, str]:
    """Write the three files into ``out`` (created if needed); return their paths."""
    out = Path(out)
    paths = {"json": out / "monitor.json", "markdown": out / "monitor.md", "html": out / "monitor.html"}
    report.outputs = {k: str(v) for k, v in paths.items()}
    write_text(paths["json"], report.to_json())
    write_text(paths["markdown"], report.to_markdown())
    write_text(paths["html"], to_html(report, plots=plots))
    return report.outputs


def to_html(report: MonitorReport, *, plots: bool = True) -> str:
    images = _plots(report) if plots else {}
    e = html.escape
    status = report.status
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>edgekit monitor: {e(status)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}.ok{color:#1a7f37}.warn{color:#9a6700}.alert{color:#cf222e}"
        ".grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}figcaption{font-size:90%}</style></head><body>",
        f"<h1>Monitoring report: <span class='{e(status)}'>{e(status.upper())}</span></h1>",
        "<ul>",
        f"<li>log <code>{e(report.log)}</code>: {report.rows} predictions, {e(str(iso(report.first)))} to {e(str(iso(report.last)))}</li>",
        f"<li>bundle <code>{e(report.bundle)}</code>: {e(report.task)}, target <code>{e(report.target)}</code></li>",
        f"<li>model id(s): {e(', '.join(m[:12] for m in report.model_ids))}</li>",
        f"<li>created {e(report.created_at)}</li></ul>",
        "<h2>Input and prediction drift</h2><table><tr><th>feature</th><th>kind</th><th>rows</th><th>missing</th>"
        "<th>PSI</th><th>test</th><th>statistic</th><th>p-value</th><th>status</th></tr>",
    ]
    for name, kind, n, missing, psi, test, stat, p, st in report.drift_rows():
        parts.append(
            f"<tr><td>{e(name)}</td><td>{e(kind)}</td><td>{n}</td><td>{missing:.1%}</td><td>{_num(psi)}</td>"
            f"<td>{e(test or '-')}</td><td>{_num(stat)}</td><td>{_num(p)}</td><td class='{st}'><b>{st}</b></td></tr>"
        )
    parts.append("</table><details><summary>thresholds per check</summary><ul>")
    for f in [*report.features, report.prediction]:
        label = "prediction" if f.name == PREDICTION else f.name
        parts.append("".join(f"<li>{e(label)} {e(c.name)}: {e(c.rule)}</li>" for c in f.checks))
    parts.append("</ul></details><ul>")
    for (check, note), names in report.check_notes().items():
        parts.append(f"<li>{e(check)} ({e(', '.join(names))}): {e(note)}</li>")
    parts.append("</ul>")
    if images:
        parts.append("<div class='grid'>")
        for f in [*report.features, report.prediction]:
            if f.name in images:
                label = "prediction" if f.name == PREDICTION else f.name
                parts.append(f"<figure><img alt='{e(label)}' src='data:image/png;base64,{images[f.name]}'>"
                             f"<figcaption>{e(label)}: <span class='{f.status}'>{f.status}</span></figcaption></figure>")
        parts.append("</div>")
    parts.append("<h2>Performance</h2>")
    perf = report.performance
    if perf is None:
        parts.append("<p>No actuals given (<code>--actuals FILE --id-column C --target-column T</code>).</p>")
    else:
        parts.append(
            f"<p>{e(perf.metric)} on the latest window: {_num(perf.latest)} vs {_num(perf.reference)} on the test split "
            f"({_pct(perf.degradation)} worse): <b class='{perf.status}'>{perf.status}</b> ({e(perf.check.rule)}). "
            f"{perf.joined_rows} predictions with actuals, {perf.predictions_without_actuals} without, "
            f"{perf.unmatched_actuals} unmatched actual(s).</p>"
        )
        names = list(perf.windows[0]["metrics"])
        parts.append("<table><tr><th>window</th><th>rows</th><th>from</th><th>to</th>"
                     + "".join(f"<th>{e(n)}</th>" for n in names) + "</tr>")
        for w in perf.windows:
            parts.append(f"<tr><td>{w['index']}</td><td>{w['rows']}</td><td>{e(str(iso(w['start'])))}</td>"
                         f"<td>{e(str(iso(w['end'])))}</td>" + "".join(f"<td>{_num(w['metrics'][n])}</td>" for n in names) + "</tr>")
        parts.append("</table>")
        if "__metric__" in images:
            parts.append(f"<img alt='metric over time' src='data:image/png;base64,{images['__metric__']}'>")
        for note in ([perf.check.note] if perf.check.note else []) + perf.notes:
            parts.append(f"<p>{e(note)}</p>")
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _plots(report: MonitorReport) -> dict[str, str]:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError("matplotlib", "monitor", purpose="for the report's plots") from exc
    images = {}
    for f in [*report.features, report.prediction]:
        if not f.bins:
            continue
        fig = Figure(figsize=(4.4, 2.6), dpi=80, layout="constrained")
        ax = fig.subplots()
        x = range(len(f.bins))
        width = 0.4
        ax.bar([i - width / 2 for i in x], f.expected, width, label="training", color=COLORS["training"])
        ax.bar([i + width / 2 for i in x], f.actual, width, label="live", color=COLORS["live"])
        ax.set_xticks(list(x), f.bins, rotation=45, ha="right", fontsize=6)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylabel("fraction", fontsize=7)
        ax.set_title(f"{'prediction' if f.name == PREDICTION else f.name} ({f.status})", fontsize=9, color=STATUS_COLORS[f.status])
        ax.legend(fontsize=6)
        images[f.name] = _png(fig)
    perf = report.performance
    if perf is not None and perf.windows:
        fig = Figure(figsize=(6.4, 2.8), dpi=80, layout="constrained")
        ax = fig.subplots()
        xs = [w["index"] for w in perf.windows]
        ax.plot(xs, [w["metrics"][perf.metric] for w in perf.windows], marker="o", color=COLORS["live"], label=f"live {perf.metric}")
        ax.axhline(perf.reference, color=COLORS["training"], label=f"test {perf.metric}")
        t = report.thresholds
        sign = -1 if perf.greater_is_better else 1
        for level, name in ((t.metric_warn, "warn"), (t.metric_alert, "alert")):
            ax.axhline(perf.reference * (1 + sign * level), color=STATUS_COLORS[name], linestyle="--", linewidth=0.8, label=name)
        ax.set_xticks(xs)
        ax.set_xlabel(f"window ({perf.window} rows)", fontsize=8)
        ax.set_ylabel(perf.metric, fontsize=8)
        ax.legend(fontsize=7)
        images["__metric__"] = _png(fig)
    return images


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
