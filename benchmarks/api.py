"""``run_bench``: every export on-device against the source model behind a REST server.

Any model files (not a bundle) go through ``edgekit.benchmarks.tensor_bench.run_files_bench``."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import edgekit
from edgekit.benchmarks.cloud import CloudSettings, measure_cloud, running_server
from edgekit.benchmarks.edge import EdgeSettings, measure_export
from edgekit.benchmarks.profiles import get_device, get_networks, netem_available
from edgekit.console import progress
from edgekit.runtime.errors import ConfigError, ModelLoadError
from edgekit.runtime.manifest import SIDECAR_NAME, Manifest

SCHEMA_VERSION = 1
QUICK_EDGE = EdgeSettings(runs=300, warmup=30, throughput_seconds=0.15)
QUICK_CLOUD = CloudSettings(requests=200, warmup=20, seconds=1.5)


@dataclass
class BenchOptions:
    exports: tuple[Path, ...] | None = None  # export folders; default BUNDLE/exports
    profile: str = "desktop"
    networks: tuple[str, ...] = ("loopback", "wifi", "4g", "3g")
    runs: int | None = None
    quick: bool = False
    url: str | None = None
    model_name: str = "model"
    cloud: bool = True
    compare_batching: bool = True
    remote: Any = None  # remote_bench.DeviceOptions: also measure on a device over SSH
    local: bool = True  # measure on this machine too
    edge: EdgeSettings = field(default_factory=EdgeSettings)
    cloud_settings: CloudSettings = field(default_factory=CloudSettings)

    def resolved(self) -> "BenchOptions":
        edge, cloud = resolve_settings(self.edge, self.cloud_settings, quick=self.quick, runs=self.runs)
        return replace(self, edge=edge, cloud_settings=cloud)


def resolve_settings(edge: EdgeSettings, cloud: CloudSettings, *, quick: bool, runs: int | None) -> tuple[EdgeSettings, CloudSettings]:
    """The settings a run uses: the quick ones with ``quick``, ``runs`` timed runs and requests."""
    edge = QUICK_EDGE if quick else edge
    cloud = QUICK_CLOUD if quick else cloud
    if runs is not None:
        if runs < 1:
            raise ConfigError("--runs must be at least 1")
        edge = replace(edge, runs=runs)
        cloud = replace(cloud, requests=runs)
    return edge, cloud


def find_exports(folders: tuple[Path, ...]) -> list[tuple[str, Path, Manifest]]:
    """Passing exports in ``folders`` (rejected ones live under rejected/ and are skipped).

    With several folders, variant names are prefixed with the source family (``svm/onnx-fp32``)."""
    found = []
    for folder in folders:
        if not folder.is_dir():
            raise ConfigError(f"{folder}: no exports folder", hint="run 'edgekit convert BUNDLE' first or pass --exports")
        for sidecar in sorted(folder.glob(f"*/{SIDECAR_NAME}")):
            manifest = Manifest.from_json(sidecar.read_bytes())
            if manifest.file and (sidecar.parent / manifest.file).is_file():
                name = sidecar.parent.name if len(folders) == 1 else f"{manifest.source.get('family')}/{sidecar.parent.name}"
                found.append((name, sidecar.parent / manifest.file, manifest))
    if not found:
        raise ConfigError(f"{', '.join(map(str, folders))}: no exports that passed the parity gate")
    return found


def run_bench(bundle: str | os.PathLike, options: BenchOptions | None = None, *, show_progress: bool | None = None) -> dict[str, Any]:
    options = (options or BenchOptions()).resolved()
    bundle = Path(bundle)
    card_path = bundle / "model_card.json"
    if not card_path.is_file():
        raise ModelLoadError(f"{bundle}: not an edgekit bundle (no model_card.json)")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    device = get_device(options.profile)
    networks = get_networks(options.networks)
    exports = find_exports(tuple(options.exports or (bundle / "exports",)))
    test_csv = bundle / "data" / "test.csv"
    features = [f["name"] for f in card["schema"]["features"]]

    remote = None
    if options.remote is not None:  # first: an unreachable device fails before the local runs
        from edgekit.benchmarks.remote_bench import bench_exports_on_device

        remote = bench_exports_on_device(options.remote, exports, test_csv, features, profile=options.profile,
                                         settings=options.edge, export_row=export_row, show_progress=show_progress)
    edge_results = []
    with progress("on-device", total=len(exports) if options.local else 0, show=show_progress) as bar:
        for name, path, manifest in exports if options.local else ():
            bar.advance(0, description=f"on-device: {name} (fresh process)")
            edge_results.append(export_row(name, path, manifest, measure_export(path, test_csv, features, device, options.edge)))
            bar.advance()

    cloud_result = cloud_export = None
    if options.cloud:
        cloud_result = _cloud(bundle, card, test_csv, features, options, show_progress)
        fastest = fastest_export(edge_results or (remote or {}).get("edge", []), exports)
        if options.url is None and fastest is not None:
            cloud_export = _cloud_export(bundle, card, test_csv, features, fastest, options, show_progress)

    report = {
        "schema_version": SCHEMA_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "edgekit_version": edgekit.__version__,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine()},
        "bundle": {"path": str(bundle), "name": bundle.name, "task": card["task"], "target": card["target"],
                   "family": card["winner"]["name"], "framework": card["winner"]["framework"],
                   "metric": card["metric"]["name"], "test_metric": card["test_metrics"].get(card["metric"]["name"])},
        "settings": {"quick": options.quick, "edge": options.edge.__dict__, "cloud": options.cloud_settings.__dict__},
        "profile": device.to_dict(),
        "networks": [{**n.to_dict(), "method": "measured" if n.bandwidth_mbps is None else "modelled"} for n in networks],
        "netem_available": netem_available(),
        "units": {"latency": "ms", "throughput": "rows/s", "size": "bytes", "memory": "MB (peak RSS)"},
        "edge": edge_results,
        "cloud": cloud_result,
        # The fastest passing export behind the same server: edge against the best cloud too.
        "cloud_export": cloud_export,
    }
    if remote is not None:
        from edgekit.benchmarks.remote_bench import compare_with_local

        compare_with_local(remote, edge_results)
        report["device"] = remote
    report["comparison"] = compare(report, networks)
    return report


def export_row(name: str, path: Path, manifest: Manifest, measured: dict[str, Any]) -> dict[str, Any]:
    """One export's measured row (here or on a remote device: the same fields)."""
    return {"name": name, "kind": "edge", "status": "ok", "format": manifest.format, "quantization": manifest.quantization,
            "path": str(path), "size_bytes": path.stat().st_size, "parity": manifest.parity,
            "source_family": manifest.source.get("family"), **measured}


def measured_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows a recommendation is made from: the remote device's when one was measured."""
    if "device" in report:
        return [r for r in report["device"]["edge"] if r["status"] == "ok"]
    return report["edge"]


def _test_records(card: dict, test_csv: Path, features: list[str]):
    from edgekit.runtime.io import CsvChunks
    from edgekit.runtime.schema import Schema

    chunks = CsvChunks(test_csv, size=1 << 30)
    header, rows = chunks.header, next(iter(chunks))
    return Schema.from_dict(card["schema"]), [{name: (r[header.index(name)] or None) for name in features} for r in rows]


def fastest_export(rows: list[dict[str, Any]], exports: list[tuple[str, Path, Manifest]]) -> tuple[str, Path, Manifest] | None:
    """The passing export with the lowest measured p50 (here, or on the device when only
    the device measured), as (name, path, manifest)."""
    measured = [r for r in rows if r.get("status", "ok") == "ok" and r.get("latency_ms")]
    if not measured:
        return None
    best = min(measured, key=lambda r: r["latency_ms"]["p50"])["name"]
    return next((e for e in exports if e[0] == best), None)


def _cloud_export(bundle: Path, card: dict, test_csv: Path, features: list[str], export: tuple[str, Path, Manifest],
                  options: BenchOptions, show_progress) -> dict[str, Any]:
    """The same measurements as the source-model cloud row, with ``edgekit serve BUNDLE
    --export FILE`` (the export through edgekit.runtime) as the server."""
    name, path, manifest = export
    schema, records = _test_records(card, test_csv, features)
    settings = options.cloud_settings
    with progress("cloud REST, fastest export", total=1, show=show_progress) as bar:
        bar.advance(0, description=f"cloud: edgekit serve --export {name}")
        with running_server(bundle, name=options.model_name, timeout_s=settings.startup_timeout_s,
                            extra=["--export", str(path)]) as url:
            result = measure_cloud(url, options.model_name, records, schema, settings)
        bar.advance()
    result.update(kind="cloud", name="cloud-export", export=name, format=manifest.format,
                  quantization=manifest.quantization, family=manifest.source.get("family"),
                  url=f"edgekit serve --export {name} on 127.0.0.1 (started by the benchmark)")
    return result


def _cloud(bundle: Path, card: dict, test_csv: Path, features: list[str], options: BenchOptions, show_progress) -> dict[str, Any]:
    schema, records = _test_records(card, test_csv, features)
    settings = options.cloud_settings
    steps = 2 if options.url is None and options.compare_batching else 1
    with progress("cloud REST baseline", total=steps, show=show_progress) as bar:
        if options.url:
            result = measure_cloud(options.url, options.model_name, records, schema, settings)
            result["url"] = options.url
        else:
            bar.advance(0, description="cloud: edgekit serve (micro-batching on)")
            with running_server(bundle, name=options.model_name, timeout_s=settings.startup_timeout_s) as url:
                result = measure_cloud(url, options.model_name, records, schema, settings)
            result["url"] = "edgekit serve on 127.0.0.1 (started by the benchmark)"
            bar.advance()
            if options.compare_batching:
                bar.advance(0, description="cloud: edgekit serve (micro-batching off)")
                top = max(settings.concurrency)
                with running_server(bundle, name=options.model_name, batching=False, timeout_s=settings.startup_timeout_s) as url:
                    off = measure_cloud(url, options.model_name, records, schema, replace(settings, requests=1, warmup=5), levels=(top,))
                on = next(t for t in result["throughput"] if t["concurrency"] == top)
                result["batching"] = {
                    "concurrency": top,
                    "rows_per_s_on": on["rows_per_s"],
                    "rows_per_s_off": off["throughput"][0]["rows_per_s"],
                    "ratio": on["rows_per_s"] / max(off["throughput"][0]["rows_per_s"], 1e-9),
                }
                bar.advance()
    result.update(kind="cloud", name="cloud", framework=card["winner"]["framework"], family=card["winner"]["name"])
    return result


ACCURACY_TOLERANCE_PCT = 2.0


def eligible(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Exports within the accuracy gate: passed parity, and a test metric within 2% of the
    best export's (so a faster but clearly less accurate model family is not recommended)."""
    edge = measured_rows(report)
    metric = report["bundle"]["metric"]
    values = [r["metric"].get(metric) for r in edge]
    if any(v is None for v in values):
        return edge
    higher = metric in ("accuracy", "f1_macro", "f1_weighted", "r2", "precision_macro", "recall_macro")
    best = max(values) if higher else min(values)
    limit = abs(best) * ACCURACY_TOLERANCE_PCT / 100
    return [r for r, v in zip(edge, values) if (best - v if higher else v - best) <= limit]


def compare(report: dict[str, Any], networks) -> dict[str, Any]:
    """Recommended variant (fastest p50 within the accuracy gate) and edge vs cloud per network,
    from the remote device's rows when there is a device."""
    edge = measured_rows(report)
    cloud = report["cloud"]
    where = f"device {report['device']['url']}" if "device" in report else "this machine"
    rule = (f"fastest p50 latency on {where} (validated predict, batch 1) among exports that passed the parity gate and "
            f"whose test {report['bundle']['metric']} is within {ACCURACY_TOLERANCE_PCT:g}% of the best export's")
    if not edge:
        return {"recommended": None, "recommended_p50_ms": None, "measured_on": where, "rule": rule}
    best = min(eligible(report), key=lambda r: r["latency_ms"]["p50"])
    out: dict[str, Any] = {"recommended": best["name"], "recommended_p50_ms": best["latency_ms"]["p50"],
                           "measured_on": where, "rule": rule}
    if cloud is None:
        return out
    same_model = [r for r in edge if r.get("source_family") == report["bundle"]["family"]]
    out["per_network"] = []
    for network in networks:
        added = network.added_ms(cloud["request_bytes"], cloud["response_bytes"])
        cloud_p50 = cloud["latency_ms"]["p50"] + added
        out["per_network"].append({
            "network": network.name,
            "method": "measured" if network.bandwidth_mbps is None else "modelled",
            "cloud_p50_ms": cloud_p50,
            "edge_p50_ms": best["latency_ms"]["p50"],
            "speedup": cloud_p50 / best["latency_ms"]["p50"],
        })
    served = report.get("cloud_export")
    if served:  # the same networks in front of the fastest export behind the server
        for row, network in zip(out["per_network"], networks):
            p50 = served["latency_ms"]["p50"] + network.added_ms(served["request_bytes"], served["response_bytes"])
            row.update(export_cloud_p50_ms=p50, export_speedup=p50 / best["latency_ms"]["p50"])
        out["cloud_export"] = {"export": served["export"], "cloud_p50_ms": served["latency_ms"]["p50"],
                               "source_cloud_p50_ms": cloud["latency_ms"]["p50"],
                               "ratio": cloud["latency_ms"]["p50"] / served["latency_ms"]["p50"]}
    if same_model:
        fp32 = next((r for r in same_model if r["quantization"] == "fp32"), same_model[0])
        out["same_model"] = {"edge": fp32["name"], "edge_p50_ms": fp32["latency_ms"]["p50"],
                             "cloud_p50_ms": cloud["latency_ms"]["p50"],
                             "ratio": cloud["latency_ms"]["p50"] / fp32["latency_ms"]["p50"]}
    return out
