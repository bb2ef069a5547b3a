"""The demo's report.md and report.html: training, exports, device predictions, benchmark."""

from __future__ import annotations

import json
from typing import Any

from edgekit.benchmarks import report as bench_report
from edgekit.reporting import figure_html, fmt, html_page, html_table, markdown_table, paragraph, pyplot
from edgekit.runtime.io import write_text

TUTORIAL_MAE = 1.73  # TensorFlow's "Basic regression: fuel efficiency" DNN, same split

LEADERBOARD_COLUMNS = ["rank", "model", "CV RMSE", "± std", "fit s", "params"]
CONVERSION_COLUMNS = ["source", "format", "quantisation", "size", "vs fp32", "max abs error", "RMSE source → export", "result"]


def leaderboard_rows(card: dict[str, Any]) -> list[list[Any]]:
    return [[r.get("rank"), r["title"], r["cv_mean"], r["cv_std"], r["fit_seconds"],
             ", ".join(f"{k.removeprefix('model__')}={v}" for k, v in (r["params"] or {}).items())]
            for r in card["leaderboard"]]


def conversion_rows(conversions: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for c in conversions:
        for r in c["results"]:
            p = r.get("parity") or {}
            metric = f"{p['source_metric']:.4g} → {p['export_metric']:.4g}" if p else None
            size = f"{r['size_bytes'] / 1024:.1f} KB" if r.get("size_bytes") else None
            ratio = f"{r['size_vs_fp32']:.0%}" if r.get("size_vs_fp32") else None
            verdict = {"passed": "pass", "rejected": "REJECTED", "failed": "FAILED", "not_applicable": "n/a"}[r["status"]]
            rows.append([c["source"]["family"], r["format"], r["quantization"], size, ratio, p.get("max_abs_error"), metric,
                         verdict if r["status"] == "passed" else f"{verdict}: {r.get('reason')}"])
    return rows


def prediction_rows(predictions: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    count = len(predictions[0]["predictions"])
    columns = ["export", "backend"] + [f"row {i + 1}" for i in range(count)]
    return columns, [[p["export"], p["backend"], *p["predictions"]] for p in predictions]


def headline(demo) -> list[str]:
    card, bench = demo.card, demo.bench
    test = card["test_metrics"]
    winner = card["winner"]
    lines = [
        f"Chosen model: **{winner['title']}** ({winner['name']}), selected by {winner['selected_by']} "
        f"({fmt(winner['cv_mean'])} ± {fmt(winner['cv_std'])}).",
        f"Test split ({card['preparation']['split']['test_rows']} rows): RMSE {fmt(test['rmse'])} MPG, MAE {fmt(test['mae'])} MPG, "
        f"R² {fmt(test['r2'])}, MSE {fmt(test['mse'])}. TensorFlow's tutorial DNN reaches MAE ≈ {TUTORIAL_MAE} on the same split.",
    ]
    if demo.alternative_card:
        alt = demo.alternative_card
        lines.append(f"TFLite takes neural networks only, so the best network ({alt['winner']['title']}, test RMSE "
                     f"{fmt(alt['test_metrics']['rmse'])}) was exported too.")
    same = bench["comparison"].get("same_model")
    if same:
        lines.append(f"Same model on-device vs cloud (loopback): {same['edge']} p50 {fmt(same['edge_p50_ms'])} ms vs "
                     f"REST p50 {fmt(same['cloud_p50_ms'])} ms: **{same['ratio']:.1f}x faster on-device**.")
    lines.append(f"Recommended on-device variant: **{bench['comparison']['recommended']}**.")
    return lines


def markdown(demo) -> str:
    card = demo.card
    prep = card["preparation"]
    columns, rows = prediction_rows(demo.predictions)
    parts = [
        "# edgekit demo: Auto MPG fuel efficiency (regression)",
        "",
        *[f"- {line}" for line in headline(demo)],
        "",
        "## Data and preparation",
        "",
        f"{card['data']['rows']} rows from `{card['data']['source']}` (sha256 {card['data']['sha256'][:16]}…); "
        f"{prep['clean']['duplicates_dropped']} duplicates dropped; dropped columns: "
        + (", ".join(f"`{k}` ({v})" for k, v in prep["dropped_columns"].items()) or "none")
        + f". Split: {prep['split']['mode']} ({prep['split']['train_rows']} train / {prep['split']['test_rows']} test). "
        f"Missing numerics imputed with the {prep['numeric_imputation']}; categoricals one-hot encoded; "
        f"{prep['scaling']}. Preprocessing is part of every exported model.",
        "",
        "## Model selection",
        "",
        f"{card['config']['cv']}-fold cross-validated RMSE (MPG), grid search per candidate:",
        "",
        markdown_table(LEADERBOARD_COLUMNS, leaderboard_rows(card)),
        "",
        "## Exports and parity",
        "",
        markdown_table(CONVERSION_COLUMNS, conversion_rows(demo.conversions)),
        "",
        "## On-device predictions (edgekit runtime, first test rows, MPG)",
        "",
        markdown_table(columns, rows),
        "",
        bench_report.markdown(demo.bench).replace("# Benchmark", "## Benchmark", 1),
        "",
        "## Stage timings",
        "",
        markdown_table(["stage", "seconds"], [[k, v] for k, v in demo.seconds.items()]),
    ]
    return "\n".join(parts) + "\n"


def _leaderboard_plot(card: dict[str, Any]) -> str:
    plt = pyplot()
    rows = [r for r in card["leaderboard"] if r["cv_mean"] is not None]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh([r["title"] for r in rows][::-1], [r["cv_mean"] for r in rows][::-1], xerr=[r["cv_std"] for r in rows][::-1])
    ax.set_xlabel(f"CV {card['metric']['name']} (lower is better)")
    return figure_html(fig, "Cross-validated RMSE per candidate (± std over folds)")


def html(demo) -> str:
    card = demo.card
    columns, rows = prediction_rows(demo.predictions)
    sections = [
        ("Summary", "".join(paragraph(line.replace("**", "")) for line in headline(demo))),
        ("Model selection", html_table(LEADERBOARD_COLUMNS, leaderboard_rows(card)) + _leaderboard_plot(card)),
        ("Exports and parity", html_table(CONVERSION_COLUMNS, conversion_rows(demo.conversions))),
        ("On-device predictions", html_table(columns, rows)),
        *bench_report.html_sections(demo.bench),
        ("Stage timings", html_table(["stage", "seconds"], [[k, v] for k, v in demo.seconds.items()])),
    ]
    return html_page("edgekit demo: Auto MPG fuel efficiency", sections)


def write_demo_reports(demo) -> None:
    out = demo.out
    write_text(out / "bench.json", json.dumps(demo.bench, indent=2))
    write_text(out / "bench.md", bench_report.markdown(demo.bench))
    write_text(out / "report.md", markdown(demo))
    write_text(out / "report.html", html(demo))
