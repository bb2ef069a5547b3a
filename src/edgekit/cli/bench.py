"""``edgekit bench``: a bundle's exports against the cloud baseline, or any model files side by side."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from edgekit.cli.options import csv_list, print_table

BUNDLE_ONLY = ("exports", "network", "url", "model_name", "no_cloud")
FILES_ONLY = ("threads", "inputs", "shape", "seed", "signature", "baseline", "cloud")
DEVICE_ONLY = ("identity", "known_hosts", "insecure_host_key", "remote_python", "no_local")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--exports", type=click.Path(path_type=Path), multiple=True, help="Bundle: exports folder, repeatable (default: BUNDLE/exports).")
@click.option("--profile", default="desktop", show_default=True, help="Device profile: desktop, phone, pi-zero, mcu-like.")
@click.option("--network", default="loopback,wifi,4g,3g", show_default=True, help="Bundle: network profiles for the cloud side.")
@click.option("--runs", type=click.IntRange(1), default=None, help="Timed runs per variant (default 1000; 300 with --quick).")
@click.option("--url", default=None, help="Bundle: benchmark this V2 endpoint instead of starting edgekit serve.")
@click.option("--model-name", default="model", show_default=True, help="Bundle: model name at the V2 endpoint.")
@click.option("--no-cloud", is_flag=True, help="Bundle: measure the exports only.")
@click.option("--threads", type=click.IntRange(1), default=None, help="Model files: backend threads (default: the profile's).")
@click.option("--inputs", type=click.Path(path_type=Path), default=None,
              help="Model files: an .npz of arrays named like the inputs (the rest are synthetic).")
@click.option("--shape", multiple=True, metavar="NAME=D0,D1,...", help="Model files: fix an input's dynamic dimensions (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True, help="Model files: seed of the synthetic inputs.")
@click.option("--signature", default=None, help="Model files: TFLite signature to run when a file has several.")
@click.option("--baseline", default=None, help="Model files: the file the others are compared with (default: the first).")
@click.option("--cloud", is_flag=True, help="Model files: also time each file behind edgekit serve (KServe V2, loopback).")
@click.option("--device", default=None, metavar="ssh://USER@HOST[:PORT]",
              help="Also measure on this device over SSH (its own Python and backend; a temporary folder there).")
@click.option("--identity", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Device: SSH private key (default: your ssh-agent and ~/.ssh keys).")
@click.option("--known-hosts", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Device: known_hosts file to check the host key against (default: OpenSSH's own).")
@click.option("--insecure-host-key", is_flag=True, help="Device: do NOT check the host key (anyone on the path could pose as it).")
@click.option("--remote-python", default="python3", show_default=True, help="Device: the Python to run there (e.g. ~/venv/bin/python).")
@click.option("--no-local", is_flag=True, help="Device: measure only on the device, not on this machine.")
@click.option("--quick", is_flag=True, help="Fewer runs and shorter load phases (about a minute).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Report folder: bench.json, bench.md, report.html (default: BUNDLE/bench; model files: none).")
@click.pass_context
def bench(ctx, paths, exports, profile, network, runs, url, model_name, no_cloud, threads, inputs, shape, seed, signature,
          baseline, cloud, device, identity, known_hosts, insecure_host_key, remote_python, no_local, quick, out):
    """Benchmark PATH: a bundle folder (its exports on-device against the cloud REST
    baseline) or one or more .tflite/.onnx/.ort files (fresh process each; several files
    give one comparison with ratios against the first or --baseline). --device
    ssh://USER@HOST[:PORT] runs the same measurements on that device too (numpy and a
    backend are all it needs) and compares it with this machine and the cloud."""
    from edgekit.runtime.errors import ConfigError

    bundles = [p for p in paths if p.is_dir()]
    given = {name for name in ctx.params if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}
    if device is None:
        _refuse(given, DEVICE_ONLY, "for a remote device: add --device ssh://USER@HOST[:PORT]")
    remote = _device_options(device, identity, known_hosts, insecure_host_key, remote_python)
    if bundles:
        if len(paths) > 1:
            raise ConfigError(f"{bundles[0]} is a bundle folder: bench takes one bundle, or model files",
                              hint="benchmark a bundle alone, or pass its export files")
        from edgekit.benchmarks.image_bench import is_image_bundle

        if is_image_bundle(paths[0]):  # the tensor harness on its exports, fed its test images
            _refuse(given, ("network", "url", "model_name", "inputs", "shape", "signature", "baseline", "device"),
                    "not for an image bundle (its exports are fed its own test images)")
            report = _bench_image_bundle(paths[0], exports, profile, runs, threads, quick, cloud and not no_cloud, out)
            if report["failed"]:
                ctx.exit(1)
            return
        _refuse(given, FILES_ONLY, "for model files, not a bundle")
        report = _bench_bundle(paths[0], exports, profile, network, runs, url, model_name, no_cloud, quick, out, remote,
                               not no_local)
        if report.get("device", {}).get("failed"):
            ctx.exit(1)
        return
    _refuse(given, BUNDLE_ONLY, "for a bundle folder, not model files")
    if inputs is not None:
        from edgekit.cli.predict_tensors import load_npz

        load_npz(inputs)  # a missing or unreadable file is a usage error now, not a failed row per file
    from edgekit.benchmarks.tensor_bench import FileBenchOptions, run_files_bench

    options = FileBenchOptions(profile=profile, threads=threads, runs=runs, quick=quick, inputs=inputs,
                               shapes=parse_shapes(shape), seed=seed, signature=signature, baseline=baseline, cloud=cloud,
                               remote=remote, local=not no_local)
    report = run_files_bench(paths, options)
    if out is not None:
        from edgekit.benchmarks.report import write_reports

        write_reports(report, out)
    show_files_summary(report)
    show_device_summary(report)
    if out is not None:
        click.echo(f"reports written to {out} (bench.json, bench.md, report.html)")
    if report["failed"]:
        ctx.exit(1)


def _refuse(given: set[str], names: tuple[str, ...], where: str) -> None:
    from edgekit.runtime.errors import ConfigError

    wrong = [name for name in names if name in given]
    if wrong:
        raise ConfigError(f"--{wrong[0].replace('_', '-')} is {where}")


def parse_shapes(values) -> dict[str, tuple[int, ...]]:
    """('frames=1,50,6', ...) -> {'frames': (1, 50, 6)}."""
    from edgekit.runtime.errors import ConfigError

    shapes = {}
    for value in values:
        name, sep, dims = value.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.split(",")) if dims.strip() else ()
        except ValueError:
            shape = None
        if not sep or not name or shape is None or any(d < 0 for d in shape):
            raise ConfigError(f"--shape {value!r} is not NAME=D0,D1,... with whole numbers >= 0", hint="e.g. --shape audio=1,16000")
        if name in shapes:
            raise ConfigError(f"--shape gives input {name!r} twice")
        shapes[name] = shape
    return shapes


def _device_options(url, identity, known_hosts, insecure_host_key, remote_python):
    """The parsed --device (a malformed URL is a usage error now, before any measurement)."""
    if url is None:
        return None
    from edgekit.benchmarks.remote_bench import DeviceOptions

    remote = DeviceOptions(url=url, identity=identity, known_hosts=known_hosts, insecure_host_key=insecure_host_key,
                           python=remote_python)
    target = remote.target()
    if insecure_host_key:
        click.echo(f"edgekit: WARNING: --insecure-host-key: the host key of {target.label} is NOT checked; anyone on the "
                   "network path could pose as the device and receive the models", err=True)
    return remote


def _bench_bundle(bundle, exports, profile, network, runs, url, model_name, no_cloud, quick, out, remote, local) -> dict:
    from edgekit.benchmarks.api import BenchOptions, run_bench
    from edgekit.benchmarks.report import write_reports

    options = BenchOptions(exports=tuple(exports) or None, profile=profile, networks=csv_list(network), runs=runs, quick=quick,
                           url=url, model_name=model_name, cloud=not no_cloud, remote=remote, local=local)
    report = run_bench(bundle, options)
    out = out or bundle / "bench"
    write_reports(report, out)
    show_summary(report)
    show_device_summary(report)
    click.echo(f"reports written to {out} (bench.json, bench.md, report.html)")
    return report


def _bench_image_bundle(bundle, exports, profile, runs, threads, quick, cloud, out) -> dict:
    from edgekit.benchmarks.image_bench import run_image_bench
    from edgekit.benchmarks.report import write_reports
    from edgekit.benchmarks.tensor_bench import FileBenchOptions

    options = FileBenchOptions(profile=profile, threads=threads, runs=runs, quick=quick, cloud=cloud)
    report = run_image_bench(bundle, options, exports=tuple(exports) or None)
    out = out or bundle / "bench"
    write_reports(report, out)
    show_files_summary(report)
    for r in report["edge"]:
        if r["status"] == "ok":
            click.echo(f"{r['name']}: test accuracy {r['metric']['accuracy']:.4f} on {report['task']['test_images']} images")
    for c in report["cloud"] or []:
        if c["status"] == "ok":
            click.echo(f"{c['name']} (cloud): {c['request_bytes']} request bytes per PNG image")
    click.echo(f"reports written to {out} (bench.json, bench.md, report.html)")
    return report


def show_device_summary(report) -> None:
    """The device beside this machine and the cloud, then notes and failures (stderr)."""
    if "device" not in report:
        return
    from edgekit.benchmarks import remote_report

    print_table(remote_report.title(report), remote_report.CLI_COLUMNS, remote_report.cli_rows(report))
    for line in remote_report.summary_lines(report):
        click.echo(line, err=line.startswith(("failed", "WARNING")))


def show_files_summary(report) -> None:
    ratios = {c["name"]: c["ratios"] for c in report["comparison"]["rows"]}
    several = len(report["edge"]) > 1
    rows = []
    for r in report["edge"]:
        if r["status"] != "ok":
            rows.append((r["name"] + " (failed)",) + (None,) * (6 + 2 * several))
            continue
        row = (r["name"], r["size_bytes"] / 1024, r["latency_ms"]["p50"], r["latency_ms"]["p99"],
               r["throughput_inferences_per_s"], r["cold_start_ms"], r["peak_rss_mb"])
        rows.append(row + ((ratios[r["name"]]["p50"], ratios[r["name"]]["size"]) if several else ()))
    columns = ["file", "KB", "p50 ms", "p99 ms", "inf/s", "cold ms", "RSS MB"] + (["p50 ×", "size ×"] if several else [])
    print_table(f"Benchmark ({report['profile']['name']}: {report['profile']['description']})", columns, rows)
    if several and report["comparison"]["baseline"]:
        click.echo(f"× = ratio to {report['comparison']['baseline']} (file / baseline; fastest p50: {report['comparison']['fastest']})")
    for c in report["cloud"] or []:
        if c["status"] == "ok":
            edge = next(r for r in report["edge"] if r["name"] == c["name"])
            click.echo(f"{c['name']} behind edgekit serve (loopback): p50 {c['latency_ms']['p50']:.3g} ms, "
                       f"{c['latency_ms']['p50'] / edge['latency_ms']['p50']:.0f}x the on-device p50")
    if report["comparison"].get("note"):
        click.echo(report["comparison"]["note"])
    for r in report["edge"]:
        if r["status"] != "ok":
            click.echo(f"failed: {r['name']}: {r['error']}", err=True)
    for c in report["cloud"] or []:
        if c["status"] != "ok":
            click.echo(f"failed: {c['name']} (cloud): {c['error']}", err=True)


def show_summary(report) -> None:
    rows = [(r["name"], r["size_bytes"] / 1024, r["latency_ms"]["p50"], r["latency_ms"]["p99"],
             r["throughput_rows_per_s"].get("1024"), r["cold_start_ms"], r["cold_peak_rss_mb"]) for r in report["edge"]]
    cloud = report["cloud"]
    if cloud:
        rows.append(("cloud (REST, loopback)", None, cloud["latency_ms"]["p50"], cloud["latency_ms"]["p99"],
                     max(t["rows_per_s"] for t in cloud["throughput"]), None, None))
    served = report.get("cloud_export")
    if served:
        rows.append((f"cloud, {served['export']} (REST, loopback)", None, served["latency_ms"]["p50"],
                     served["latency_ms"]["p99"], max(t["rows_per_s"] for t in served["throughput"]), None, None))
    print_table(f"Benchmark ({report['profile']['name']}: {report['profile']['description']})",
                ["variant", "KB", "p50 ms", "p99 ms", "max rows/s", "cold start ms", "cold RSS MB"], rows)
    comparison = report["comparison"]
    if comparison["recommended"] is None:
        click.echo(f"no recommendation: nothing was measured on {comparison['measured_on']}")
        return
    line = f"recommended for {report['profile']['name']}: {comparison['recommended']} (p50 {comparison['recommended_p50_ms']:.3g} ms)"
    for c in comparison.get("per_network", []):
        line += f"; {c['speedup']:.0f}x faster than the cloud on {c['network']}" + (" (modelled)" if c["method"] == "modelled" else "")
    click.echo(line)
    if cloud and cloud.get("batching"):
        b = cloud["batching"]
        click.echo(f"micro-batching at concurrency {b['concurrency']}: {b['ratio']:.2f}x the throughput of no batching")
