"""``edgekit bench --device ssh://...``: the fresh-process measurements on a remote device.

Bundle exports and model files take the same way (``remote_session``): their files go to
a temporary folder on the device, the very workers that measure locally (``edge_worker``
for exports, ``tensor_worker`` for any file) run there with the device's Python and
backend under the same profile (resolved on the device's own cores), and their output
becomes rows of the same metric schema as a local run. The ``device`` section of
bench.json holds those rows, the device's identity and how they compare with this machine.

A format the device has no backend for is a failed row whose reason is the exact
``pip install`` line to run there; when nothing can run, the whole command stops with it
before anything is copied. A worker that crashes on the device is a failed row with its
exit status (or signal) and the tail of its stderr.
"""

from __future__ import annotations

import base64
import json
import signal
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from edgekit.benchmarks.edge import EdgeSettings
from edgekit.benchmarks.profiles import DeviceProfile, get_device
from edgekit.benchmarks.remote_session import DeviceSession, tail
from edgekit.benchmarks.remote_ssh import DeviceError, SshTarget
from edgekit.console import progress

# format -> distributions the runtime can run it with (its backend registry's order)
BACKENDS = {"tflite": ("ai-edge-litert", "tflite-runtime", "tensorflow"), "onnx": ("onnxruntime",), "ort": ("onnxruntime",)}
PIP_NAMES = {"tflite": "ai-edge-litert", "onnx": "onnxruntime", "ort": "onnxruntime"}
FORMAT_NAMES = {"tflite": "TFLite", "onnx": "ONNX", "ort": "ORT"}


@dataclass(frozen=True)
class DeviceOptions:
    url: str
    identity: Path | None = None
    known_hosts: Path | None = None
    insecure_host_key: bool = False
    python: str = "python3"

    def target(self) -> SshTarget:
        return SshTarget.parse(self.url, identity=self.identity, known_hosts=self.known_hosts,
                               insecure_host_key=self.insecure_host_key)


@dataclass(frozen=True)
class Item:
    """One thing to measure on the device: its row name, local model file and format."""
    name: str
    path: Path
    format: str


def model_format(path: Path) -> str:
    from edgekit.runtime.errors import ModelLoadError
    from edgekit.runtime.loader import detect_format

    try:
        with open(path, "rb") as handle:
            return detect_format(handle.read(8), path)
    except (OSError, ModelLoadError):
        return path.suffix.lower().lstrip(".")  # the worker reports the real problem on the device


def companions(path: Path) -> list[Path]:
    """The model file and what the runtime reads beside it: sidecar manifests, ONNX external data."""
    from edgekit.runtime.manifest import SIDECAR_NAME

    files = [path] + [p for p in (path.with_name(path.name + ".manifest.json"), path.with_name(SIDECAR_NAME)) if p.is_file()]
    if path.suffix.lower() == ".onnx":
        from edgekit.runtime.onnx_file import check_external_data, inspect_onnx

        info = inspect_onnx(path.read_bytes(), path.name)
        check_external_data(info, path)
        files += [path.parent / location for location in dict.fromkeys(info.external_locations)]
    return files


def missing_packages(identity: dict[str, Any], fmt: str) -> list[str]:
    """What the device must install to run ``fmt`` (pip names; empty when it can)."""
    packages = identity["packages"]
    need = [] if packages.get("numpy") else ["numpy"]
    if fmt in BACKENDS and not any(packages.get(b) for b in BACKENDS[fmt]):
        need.append(PIP_NAMES[fmt])
    return need


def install_line(identity: dict[str, Any], need: list[str], python: str) -> str:
    """'no numpy and no TFLite backend for python3 (Python 3.11) on the device: run `... pip install ...` there'."""
    lacks = ["numpy" if n == "numpy" else f"{'/'.join(sorted({FORMAT_NAMES[f] for f, p in PIP_NAMES.items() if p == n}))} "
             f"backend ({n})" for n in need]
    return (f"no {' and no '.join(lacks)} for {python} (Python {identity['python']}) on the device: "
            f"run `{python} -m pip install {' '.join(need)}` there")


def device_profile(name: str, identity: dict[str, Any], threads: int | None = None) -> DeviceProfile:
    """A profile resolved on the device's cores, as it is resolved on this machine's locally."""
    profile = get_device(name, tuple(identity["cpus"]), where="the device")
    return profile if threads is None else replace(profile, threads=threads)


def crash_reason(result: dict[str, Any]) -> str:
    if result["timed_out"]:
        return "the worker on the device timed out and was killed"
    code = result["returncode"]
    if code < 0:
        try:
            status = f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            status = f"was killed by signal {-code}"
    else:
        status = f"exited with status {code}"
    return f"the worker on the device {status}; stderr: {tail(result['stderr_tail'])}"


def failed_json(stdout: str) -> bool:
    """Whether the worker reported a typed error as JSON (then its own message is the reason)."""
    try:
        return "error" in json.loads((stdout.strip().splitlines() or [""])[-1])
    except (ValueError, TypeError):
        return False


def triage(items: list[Item], identity: dict[str, Any], python: str, failed_row: Callable
           ) -> tuple[list[Item], dict[str, dict[str, Any]], list[str]]:
    """(items the device can run, failed rows for the others, every package it lacks for them)."""
    runnable, rows, needed = [], {}, []
    for item in items:
        need = missing_packages(identity, item.format)
        needed += [n for n in need if n not in needed]
        if not item.path.is_file():
            rows[item.name] = failed_row(item, f"{item.path}: no such file on this machine", "ModelLoadError")
        elif need:
            rows[item.name] = failed_row(item, install_line(identity, need, python), "MissingBackend")
        else:
            runnable.append(item)
    return runnable, rows, needed


def run_items(device: DeviceOptions, items: list[Item], *, profile: str, threads: int | None, settings: EdgeSettings,
              plan: Callable, to_row: Callable, failed_row: Callable, show_progress=None,
              extra_files: dict[str, Path] | None = None) -> dict[str, Any]:
    """The session: probe, copy what ``plan(session, profile, items)`` asks for, run its jobs, clean up.

    ``plan`` returns (files, jobs) with the device's paths; ``to_row(item, result)`` turns a
    job's result into a row; ``failed_row(item, reason, error_type, **extra)`` a failed one."""
    from edgekit.benchmarks.remote_probe import identity as this_machine

    target = device.target()
    agent: dict[str, Any] = {}
    with DeviceSession(target, device.python) as session:
        identity = session.identity
        resolved = device_profile(profile, identity, threads)
        runnable, rows, needed = triage(items, identity, device.python, failed_row)
        if not runnable and needed:  # nothing can run: say everything to install at once
            raise DeviceError(f"{target.label}: {install_line(identity, needed, device.python)}")
        by_name = {item.name: item for item in runnable}

        def received(result: dict[str, Any]) -> None:
            item = by_name[result["name"]]
            crashed = result["returncode"] != 0 and not failed_json(result["stdout"])
            try:
                rows[item.name] = None if crashed else to_row(item, result)
            except (ValueError, KeyError, IndexError):
                crashed = True  # exit status 0 but no measurement on stdout
            if crashed:
                rows[item.name] = failed_row(item, crash_reason(result), "DeviceWorkerError",
                                             exit_status=result["returncode"], stderr_tail=tail(result["stderr_tail"], 20))
            bar.advance()

        if runnable:
            files, jobs = plan(session, resolved, runnable)
            session.upload({**files, **(extra_files or {})}, jobs, settings.timeout_s)
            with progress(f"device {target.label}", total=len(jobs), show=show_progress) as bar:
                agent = session.run_jobs(received)
    return {
        "url": target.url, "host": target.host, "port": target.port, "user": target.user,
        "host_key_checked": not target.insecure_host_key, "remote_python": device.python,
        "identity": identity, "this_machine": this_machine(), "profile": resolved.to_dict(),
        "code": {**(session.code or {}), "ran_from": agent.get("edgekit")},
        "temp_folder": session.folder, "temp_folder_removed": session.removed, "transfer": session.transfer,
        "edge": [rows[item.name] for item in items],
        "failed": [item.name for item in items if rows[item.name].get("status") == "failed"],
    }


def saved_file(result: dict[str, Any], folder: Path, name: str) -> Path | None:
    """The job's --save file (feeds and outputs) written locally, when it came back."""
    if not result.get("saved"):
        return None
    path = folder / name
    path.write_bytes(base64.b64decode(result["saved"]))
    return path


def model_files(session: DeviceSession, index: int, path: Path) -> tuple[dict[str, Path], str]:
    """Upload entries for one model (in its own folder m<index>/) and its path on the device."""
    from edgekit.runtime.errors import EdgekitError

    try:
        files = companions(path)
    except EdgekitError:
        files = [path]  # unreadable here: the worker on the device reports why, as it would locally
    folder = f"m{index}"
    return ({f"{folder}/{f.relative_to(path.parent).as_posix()}": f for f in files},
            session.path(f"{folder}/{path.name}"))


def last_json(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def bench_exports_on_device(device: DeviceOptions, exports, test_csv: Path, features: list[str], *, profile: str,
                            settings: EdgeSettings, export_row: Callable, show_progress=None) -> dict[str, Any]:
    """A bundle's exports ``[(name, path, manifest)]`` through ``edge_worker`` on the device;
    ``export_row(name, path, manifest, measured)`` builds a row exactly as the local run does."""
    from edgekit.benchmarks.edge import WORKER, first_row, summarize, worker_args

    manifests = {name: manifest for name, _, manifest in exports}
    first = first_row(test_csv, features)

    def plan(session, resolved, runnable):
        files, jobs = {"data/test.csv": test_csv}, []
        for i, item in enumerate(runnable):
            entries, remote = model_files(session, i, item.path)
            files.update(entries)
            jobs.append({"name": item.name, "module": WORKER,
                         "args": worker_args(remote, session.path("data/test.csv"), first, resolved, settings)})
        return files, jobs

    def to_row(item, result):
        return export_row(item.name, item.path, manifests[item.name], summarize(last_json(result["stdout"])))

    def failed(item, reason, error_type, **extra):
        manifest = manifests[item.name]
        return {"name": item.name, "kind": "edge", "status": "failed", "format": manifest.format,
                "quantization": manifest.quantization, "path": str(item.path), "error": reason, "error_type": error_type,
                **extra}

    items = [Item(name, path, manifest.format) for name, path, manifest in exports]
    return run_items(device, items, profile=profile, threads=None, settings=settings, plan=plan, to_row=to_row,
                     failed_row=failed, show_progress=show_progress)


def bench_files_on_device(device: DeviceOptions, paths: list[Path], names: list[str], options, scratch: Path,
                          show_progress=None) -> tuple[dict[str, Any], dict[str, Path]]:
    """Model files through ``tensor_worker`` on the device with the same feeds (seed, --inputs,
    --shape) as locally. Returns the section and the saved feeds/outputs that came back."""
    from edgekit.benchmarks import tensor_bench

    saved: dict[str, Path] = {}
    extra = {"inputs.npz": options.inputs} if options.inputs is not None else {}

    def plan(session, resolved, runnable):
        files, jobs = {}, []
        inputs = session.path("inputs.npz") if options.inputs is not None else None
        for i, item in enumerate(runnable):
            entries, remote = model_files(session, i, item.path)
            files.update(entries)
            save = session.path(f"out/{i}.npz")
            jobs.append({"name": item.name, "module": tensor_bench.WORKER, "save": save,
                         "args": tensor_bench.worker_args(remote, resolved, options.edge, options, save=save, inputs=inputs)})
        files["out/.keep"] = b""
        return files, jobs

    def to_row(item, result):
        row = tensor_bench.worker_row(item.path, result["returncode"], result["stdout"], result["stderr_tail"])
        row["name"] = item.name
        if row["status"] == "ok":
            kept = saved_file(result, scratch, f"device-{len(saved)}.npz")
            if kept is not None:
                saved[item.name] = kept
        return row

    def failed(item, reason, error_type, **extra_fields):
        return {**tensor_bench.failed_row(item.path, reason, error_type), "name": item.name, **extra_fields}

    items = [Item(name, Path(path), model_format(Path(path))) for name, path in zip(names, paths)]
    section = run_items(device, items, profile=options.profile, threads=options.threads, settings=options.edge, plan=plan,
                        to_row=to_row, failed_row=failed, show_progress=show_progress, extra_files=extra)
    return section, saved


def compare_with_local(section: dict[str, Any], local_rows: list[dict[str, Any]], saved_local: dict[str, Path] | None = None,
                       saved_device: dict[str, Path] | None = None) -> None:
    """Per row measured on both: device / this machine ratios, task metrics (exports) and
    how far the outputs are apart on identical feeds (model files)."""
    from edgekit.benchmarks.tensor_bench import RATIO_KEYS, _value, agreement

    local = {r["name"]: r for r in local_rows if r.get("status", "ok") == "ok"}
    out = []
    for row in section["edge"]:
        if row.get("status") != "ok" or row["name"] not in local:
            continue
        here = local[row["name"]]
        ratios = {}
        for key, where in RATIO_KEYS.items():
            mine, theirs = _value(row, where), _value(here, where)
            ratios[key] = mine / theirs if mine is not None and theirs else None
        entry = {"name": row["name"], "device_p50_ms": row["latency_ms"]["p50"], "local_p50_ms": here["latency_ms"]["p50"],
                 "ratios": ratios, "device_metric": row.get("metric"), "local_metric": here.get("metric"), "agreement": None}
        name = row["name"]
        if saved_local and saved_device and name in saved_local and name in saved_device:
            entry["agreement"] = agreement({**here, "name": "local"}, {**row, "name": "device"},
                                           {"local": saved_local[name], "device": saved_device[name]})
        out.append(entry)
    section["vs_local"] = out
    section["vs_local_rule"] = "ratio = device / this machine (latency, cold start, RSS, load: above 1 is slower or larger)"
