"""``edgekit info``: what an export, an exports folder or a bundle is."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.cli.options import print_table


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON (manifest, model card, inspection).")
def info(path: Path, as_json: bool):
    """Describe a model file (any .tflite/.onnx/.ort), an exports folder or a bundle.

    For a model file: format, size, sha256, operators (TFLite: op versions and the oldest
    runtime release that loads it), parameters and weight precision, inputs and outputs
    as the installed backend reports them, signatures and metadata."""
    from edgekit.runtime.errors import ModelLoadError

    if path.is_dir() and (path / "model_card.json").is_file():
        _bundle(path, as_json)
    elif path.is_dir() and (path / "conversion.json").is_file():
        _exports(path, as_json)
    elif path.is_file():
        _export(path, as_json)
    elif not path.exists():
        raise ModelLoadError(f"{path}: no such file or folder")
    else:
        raise ModelLoadError(f"{path}: neither an export file, an exports folder nor a bundle")


def _export(path: Path, as_json: bool) -> None:
    """Any model file: an edgekit tabular export's manifest first, then what the file holds
    (operators, weights, tensors) and what the backend makes of it."""
    from edgekit.cli.info_model import as_json as model_json, backend_view, inspect_file, print_sections
    from edgekit.runtime import Manifest, read_manifest

    manifest = read_manifest(path, required=False)
    facts = inspect_file(path)
    view, refused = backend_view(path, facts)
    tabular = isinstance(manifest, Manifest)
    if as_json:
        click.echo(model_json(path, facts, manifest, view, tabular=tabular))
    else:
        if tabular:
            _tabular(path, manifest)
        print_sections(path, facts, manifest, view)
    if refused is not None:
        # The facts are printed; loading the file here fails: one error line (backends' own
        # messages can span lines), exit 1.
        raise type(refused)(" ".join(refused.message.split()), hint=refused.hint) from refused


def _tabular(path: Path, m) -> None:
    click.echo(f"{path.name}: {m.format} / {m.quantization}, {m.task} of {m.target!r}, "
               f"source {m.source.get('framework')} {m.source.get('family')}, edgekit {m.edgekit_version}")
    if m.sha256:
        click.echo(f"sha256 {m.sha256}  size {m.size_bytes} bytes")
    if m.parity:
        p = m.parity
        click.echo(f"parity: {p['metric']} {p['source_metric']:.4g} → {p['export_metric']:.4g}, "
                   f"max abs error {p['max_abs_error']:.3g} ({'passed' if p['passed'] else 'REJECTED'})")
    if m.preprocessing is not None:
        click.echo("note: preprocessing runs in the edgekit runtime (int8 input/output export)")
    print_table("Inputs", ["feature", "kind", "dtype", "range / categories"],
                [(f.name, f.kind, f.dtype, list(f.categories) if f.categories else f"[{f.min}, {f.max}]") for f in m.schema])
    if m.labels:
        click.echo(f"labels: {list(m.labels)}")


def _read_json(path: Path) -> dict:
    from edgekit.runtime.errors import ModelLoadError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: bad JSON or not UTF-8
        raise ModelLoadError(f"{path}: unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: expected a JSON object")
    return data


def _exports(path: Path, as_json: bool) -> None:
    data = _read_json(path / "conversion.json")
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    try:
        click.echo((path / "conversion.md").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        from edgekit.runtime.errors import ModelLoadError

        raise ModelLoadError(f"{path / 'conversion.md'}: unreadable: {exc}") from exc


def _bundle(path: Path, as_json: bool) -> None:
    from edgekit.runtime.errors import ModelLoadError

    card = _read_json(path / "model_card.json")
    if as_json:
        click.echo(json.dumps(card, indent=2))
        return
    try:
        _show_card(path, card)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ModelLoadError(f"{path / 'model_card.json'}: malformed model card ({type(exc).__name__}: {exc})") from exc


def _show_card(path: Path, card: dict) -> None:
    winner = card["winner"]
    click.echo(f"{path.name}: {card['task']} of {card['target']!r}, winner {winner['name']} ({winner['title']}), "
               f"data {card['data']['name']} ({card['data']['rows']} rows, sha256 {card['data']['sha256'][:12]}…)")
    shown = {k: v for k, v in card["test_metrics"].items() if k != "confusion_matrix"}
    print_table("Test metrics", list(shown), [list(shown.values())])
    print_table("Leaderboard", ["rank", "model", f"CV {card['metric']['name']}", "± std"],
                [(r.get("rank"), r["name"], r["cv_mean"], r["cv_std"]) for r in card["leaderboard"]])
