"""``edgekit info`` on a model file: what the file says and what the backend makes of it.

The static part comes from ``edgekit.runtime.inspect`` (operators, weights, tensors,
runtime requirements, metadata) and needs no backend; when one is installed the file is
also loaded with ``edgekit.runtime.load``, and its inputs and outputs are the ones shown,
so ``info`` reports what ``predict`` and ``bench`` will see.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import click

from edgekit.cli.options import print_table as _print_table

LAST_TFLITE_RUNTIME = "2.14.0"  # tflite-runtime stopped at 2.14 (see FACTS.md)
_SHORT = 80


def inspect_file(path: Path):
    """The static inspection, or None for .ort files (the inspector reads .tflite/.onnx)."""
    from edgekit.runtime import detect_format
    from edgekit.runtime.inspect import inspect_model

    with path.open("rb") as handle:
        head = handle.read(8)
    if detect_format(head, path) == "ort":
        return None
    return inspect_model(path)


def backend_view(path: Path, facts) -> tuple[dict[str, Any], Exception | None]:
    """The loaded model's inputs and outputs, or why it could not be loaded here."""
    from edgekit.runtime import MissingDependencyError, ModelLoadError, load

    try:
        model = load(path, verify=False)
    except MissingDependencyError as exc:
        return {"available": False, "note": str(exc)}, None
    except ModelLoadError as exc:
        return {"available": True, "error": str(exc)}, exc
    tensor = getattr(model, "tensor", None) or model  # the tabular Model wraps a TensorModel
    try:
        view: dict[str, Any] = {"available": True, "name": tensor.backend, "signature": tensor.signature,
                                "inputs": [s.to_dict() for s in tensor.inputs],
                                "outputs": [s.to_dict() for s in tensor.outputs]}
        if facts is not None:
            view["matches_file"] = tuple(tensor.inputs) == tuple(facts.inputs) and \
                tuple(tensor.outputs) == tuple(facts.outputs)
        view["_specs"] = (tuple(tensor.inputs), tuple(tensor.outputs))
    finally:
        model.close()
    return view, None


def as_json(path: Path, facts, manifest, view: dict[str, Any], *, tabular: bool) -> str:
    """Everything as one JSON document: a tabular export keeps its manifest at the top level
    and gains ``inspection``; any other file is the inspection itself, with ``manifest``."""
    backend = {k: v for k, v in view.items() if not k.startswith("_")}
    if facts is not None:
        inspection = facts.to_dict()
    else:
        content = path.read_bytes()
        inspection = {"file": path.name, "format": "ort", "size_bytes": len(content),
                      "sha256": hashlib.sha256(content).hexdigest(),
                      "manifest": manifest.to_dict() if manifest is not None else None}
    if tabular:
        inspection.pop("manifest", None)
        return json.dumps({**manifest.to_dict(), "inspection": inspection, "backend": backend}, indent=2, default=str)
    return json.dumps({**inspection, "backend": backend}, indent=2, default=str)


def print_sections(path: Path, facts, manifest, view: dict[str, Any]) -> None:
    if facts is None:
        content = path.read_bytes()
        click.echo(f"{path.name}: ort, {len(content)} bytes, sha256 {hashlib.sha256(content).hexdigest()} "
                   "(the static inspector reads .tflite and .onnx files)")
    else:
        _print_file(facts, manifest)
    if manifest is not None and getattr(manifest, "kind", None) == "tensor":
        m, source = manifest, dict(manifest.source)
        click.echo(f"edgekit tensor manifest: {m.format} / {m.quantization}, converted from {source.get('file', '?')} "
                   f"({source.get('framework', '?')}) by edgekit {m.edgekit_version or '?'}")
    _print_io(facts, view)
    if facts is not None and facts.format == "tflite":
        _print_tflite_tables(facts.details)
    elif facts is not None:
        props = facts.details["metadata_props"]
        if props:
            print_table("metadata_props", ["key", "value"], [(k, _short(v)) for k, v in props.items()])


def _print_file(facts, manifest) -> None:
    click.echo(f"{facts.file}: {facts.format}, {facts.size_bytes} bytes, sha256 {facts.sha256}")
    recorded = getattr(manifest, "sha256", None)
    if recorded:
        click.echo("sha256 matches its manifest" if recorded == facts.sha256
                   else f"sha256 DOES NOT MATCH its manifest ({recorded[:12]}…): the file was changed or corrupted")
    details = facts.details
    if facts.format == "tflite":
        _print_tflite_header(details)
    else:
        opsets = ", ".join(f"{d} {v}" for d, v in details["opsets"].items())
        producer = " ".join(p for p in (details["producer_name"], details["producer_version"]) if p) or "-"
        click.echo(f"ONNX IR version {details['ir_version']}, opsets {opsets or '-'}; producer {producer}; "
                   f"graph {details['graph_name']!r}")
        if details["doc_string"]:
            click.echo(f"doc: {details['doc_string']}")
    w = facts.weights
    q = w["quantized"]
    quantized = f"; {q['tensors']} quantised ({q['per-channel']} per-channel, {q['per-tensor']} per-tensor" + \
        (f", {q['unknown']} unknown" if q["unknown"] else "") + ")" if q["tensors"] else ""
    click.echo(f"{facts.n_operators} operators, {facts.parameters} parameters in {w['tensors']} constant tensors "
               f"({w['bytes']} bytes){quantized}")
    if facts.format == "tflite":
        print_table("Operators", ["op", "version", "count", "first TFLite runtime"],
                    [(v["op"] + (" (custom)" if v["custom"] else ""), v["version"], v["count"],
                      v["min_runtime"] or "unknown") for v in details["op_versions"]])
    else:
        print_table("Operators", ["op", "domain", "count"],
                    [(r["op"], r["domain"], r["count"]) for r in details["nodes_by_domain"]])
    print_table("Weights", ["dtype", "tensors", "parameters", "bytes", "share of bytes", "per-tensor", "per-channel"],
                [(dtype, r["tensors"], r["parameters"], r["bytes"], f"{r['share_of_bytes']:.1%}",
                  r["per-tensor"] or "-", r["per-channel"] or "-") for dtype, r in w["by_dtype"].items()])


def _print_tflite_header(details: dict[str, Any]) -> None:
    from edgekit.runtime.inspect_tflite import runtime_can_load

    subgraphs = details["subgraphs"]
    click.echo(f"TFLite schema version {details['schema_version']}, {len(subgraphs)} subgraph"
               f"{'s' if len(subgraphs) != 1 else ''}" + (f"; {details['description']!r}" if details["description"] else ""))
    need = details["min_runtime"]
    if need["release"] and need["complete"]:
        oldest = f"{need['release']} (needed by {', '.join(need['needed_by'])})"
    elif need["release"]:
        oldest = f"at least {need['release']}; unknown for {', '.join(need['unknown'])}"
    else:
        oldest = f"unknown ({', '.join(need['unknown'])})" if need["unknown"] else "any (no operators)"
    verdict = {True: "supports every op version", False: "too old for " + ", ".join(need["needed_by"]),
               None: "cannot tell"}[runtime_can_load(need, LAST_TFLITE_RUNTIME)]
    click.echo(f"oldest TFLite runtime for its op versions: {oldest}; "
               f"tflite-runtime {LAST_TFLITE_RUNTIME} (its last release): {verdict}")
    for row in details["metadata"]:
        value = row.get("value")
        if row["name"] == "min_runtime_version" and value:
            click.echo(f"the converter recorded min_runtime_version {value}")
        elif row["name"] == "CONVERSION_METADATA" and isinstance(value, dict):
            modes = ", ".join(value.get("optimizations") or []) or "none"
            click.echo(f"converted by TensorFlow {value.get('tensorflow_version') or '?'} from "
                       f"{value.get('model_type', '?')}; optimisations: {modes}")


def _print_io(facts, view: dict[str, Any]) -> None:
    if view.get("available") and "error" not in view:
        inputs, outputs = view["_specs"]
        where = view["name"] + (f", signature {view['signature']!r}" if view.get("signature") else "")
        _spec_table(f"Input tensors ({where})", inputs)
        _spec_table(f"Output tensors ({where})", outputs)
        if facts is not None and not view.get("matches_file"):
            click.echo(f"note: the file itself declares other tensors than {view['name']} reports:")
            _spec_table("Input tensors (read from the file)", facts.inputs)
            _spec_table("Output tensors (read from the file)", facts.outputs)
        return
    if facts is not None:
        _spec_table("Input tensors (read from the file)", facts.inputs)
        _spec_table("Output tensors (read from the file)", facts.outputs)
    if view.get("note"):
        click.echo(f"backend: {view['note']}")


def _spec_table(title: str, specs) -> None:
    print_table(title, ["name", "shape", "dtype", "quantization"],
                [(s.name, s.shape_text(), s.dtype, _quantization(s.quantization)) for s in specs])


def _quantization(q) -> str:
    if q is None:
        return "-"
    if q.per_channel:
        return f"per-channel: {len(q.scale)} scales on axis {q.axis}"
    return f"scale {q.scale[0]:.6g}, zero point {q.zero_point[0] if q.zero_point else 0}"


def _print_tflite_tables(details: dict[str, Any]) -> None:
    if details["signatures"]:
        print_table("Signatures", ["key", "subgraph", "inputs", "outputs"],
                    [(s["key"], s["subgraph"], ", ".join(e["name"] for e in s["inputs"]),
                      ", ".join(e["name"] for e in s["outputs"])) for s in details["signatures"]])
    if details["metadata"]:
        print_table("Metadata", ["name", "bytes", "value"],
                    [(m["name"], m["bytes"], _short(m.get("value", m.get("error", "")))) for m in details["metadata"]])


def print_table(title: str, columns, rows) -> None:
    """print_table with every text cell escaped: '[batch, 3]' is a shape, not rich markup."""
    from rich.markup import escape

    _print_table(escape(title), columns, [[escape(c) if isinstance(c, str) else c for c in row] for row in rows])


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"
