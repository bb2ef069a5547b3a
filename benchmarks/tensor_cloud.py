"""The cloud side for model files: each file behind ``edgekit serve FILE``, same feeds.

For every file that ran on-device, ``edgekit serve FILE`` starts on a free loopback port
(its own process, through ``cloud.running_server``), and KServe V2 infer requests built
from the very feeds the on-device worker used (the model's own tensor names, shapes and
datatypes) are timed by the keep-alive client of ``cloud``/``http_load``. One request is
checked first: it must answer 200 with the model's outputs, and whether its values equal
the on-device outputs is recorded (``outputs_match``).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.benchmarks.cloud import CloudSettings, _drive, running_server
from edgekit.benchmarks.edge import BenchmarkError
from edgekit.console import progress

MODEL_NAME = "model"
# numpy dtype name -> Open Inference Protocol datatype
V2_DATATYPES = {
    "bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64", "int8": "INT8",
    "int16": "INT16", "int32": "INT32", "int64": "INT64", "float16": "FP16", "float32": "FP32", "float64": "FP64",
}


def v2_body(feeds: dict[str, np.ndarray]) -> bytes:
    """One V2 infer request: a tensor per input with its name, shape, datatype and flat data."""
    inputs = []
    for name, value in feeds.items():
        value = np.asarray(value)
        datatype = "BYTES" if value.dtype.kind in "OUS" else V2_DATATYPES.get(value.dtype.name)
        if datatype is None:
            raise BenchmarkError(f"input {name!r}: {value.dtype} has no KServe V2 datatype")
        data = [str(v) for v in value.ravel().tolist()] if datatype == "BYTES" else value.ravel().tolist()
        inputs.append({"name": name, "shape": list(value.shape), "datatype": datatype, "data": data})
    return json.dumps({"inputs": inputs}).encode()


def saved_arrays(path: Path, prefix: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}


def infer_once(url: str, body: bytes) -> dict:
    """POST one V2 infer request to ``edgekit serve``; its JSON answer, or BenchmarkError."""
    request = urllib.request.Request(f"{url}/v2/models/{MODEL_NAME}/infer", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace").strip()
        raise BenchmarkError(f"edgekit serve answered {exc.code}: {detail[:300]}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BenchmarkError(f"edgekit serve did not answer the infer request: {exc}") from exc


def check_response(url: str, body: bytes, saved: Path) -> bool:
    """Send one request; raise BenchmarkError unless it answers 200 with every output.
    Returns whether the values equal the on-device outputs (raw or dequantised)."""
    answer = infer_once(url, body)
    got = {o["name"]: o for o in answer.get("outputs", []) if isinstance(o, dict) and "name" in o}
    expected = [saved_arrays(saved, "raw:"), saved_arrays(saved, "output:")]
    missing = sorted(set(expected[0]) - set(got))
    if missing:
        raise BenchmarkError(f"edgekit serve's answer lacks output(s) {missing}; it has {sorted(got)}")

    def equal(local: dict[str, np.ndarray]) -> bool:
        for name, want in local.items():
            try:
                value = np.asarray(got[name]["data"], dtype=np.float64).reshape(want.shape)
            except (ValueError, TypeError, KeyError):
                return False
            if not np.allclose(value, want.astype(np.float64), rtol=1e-5, atol=1e-6):
                return False
        return True

    return any(equal(local) for local in expected)


def measure_file_cloud(row: dict[str, Any], saved: Path, settings: CloudSettings) -> dict[str, Any]:
    body = v2_body(saved_arrays(saved, "feed:"))
    extra = ["--signature", row["signature"]] if row.get("signature") else []
    with running_server(Path(row["path"]), name=MODEL_NAME, timeout_s=settings.startup_timeout_s, extra=extra) as url:
        matches = check_response(url, body, saved)
        result = asyncio.run(_drive(url, MODEL_NAME, [body], settings, settings.concurrency))
    return {"name": row["name"], "kind": "cloud", "status": "ok", "error": None, "outputs_match": matches,
            "url": "edgekit serve on 127.0.0.1 (started by the benchmark)", **result}


def measure_files_cloud(rows: list[dict[str, Any]], saved: dict[str, Path], settings: CloudSettings, *,
                        show_progress: bool | None = None) -> list[dict[str, Any]]:
    """One cloud result per file that ran on-device; a server failure is a failed result."""
    todo = [r for r in rows if r["status"] == "ok" and r["name"] in saved]
    results = []
    with progress("cloud (edgekit serve)", total=len(todo), show=show_progress) as bar:
        for row in todo:
            bar.advance(0, description=f"cloud: edgekit serve {row['name']}")
            try:
                results.append(measure_file_cloud(row, saved[row["name"]], settings))
            except BenchmarkError as exc:
                results.append({"name": row["name"], "kind": "cloud", "status": "failed", "error": str(exc)})
            bar.advance()
    return results
