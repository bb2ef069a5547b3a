"""Child process that runs fuzz cases one after another and reports each as a JSON line.

Run as ``python fuzz_worker.py CASES.json RESULTS.jsonl``. Before a case starts it writes
``{"id": ..., "phase": "start"}`` and flushes; after it, the outcome. If native code
segfaults or hangs, the parent sees a started case without an outcome, names it, and
starts a new worker on the remaining cases (see ``conftest.run_cases``).

Outcomes:
  predicted  load (and predict) succeeded: ``values``/``probabilities`` are returned
  loaded     a loader without prediction (bundle, manifest) succeeded
  refused    an EdgekitError: ``error`` (class name), ``errors`` (its MRO names), ``message``
  untyped    any other exception: a bug (``traceback`` included)
  cli        an in-process ``edgekit`` run: ``exit``, ``stdout``, ``stderr``
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback
import warnings


def _error(exc: BaseException, stage: str) -> dict:
    from edgekit.runtime.errors import EdgekitError

    names = [c.__name__ for c in type(exc).__mro__]
    if isinstance(exc, EdgekitError):
        return {"outcome": "refused", "stage": stage, "error": type(exc).__name__, "errors": names, "message": str(exc)}
    return {
        "outcome": "untyped",
        "stage": stage,
        "error": type(exc).__name__,
        "errors": names,
        "message": str(exc)[:2000],
        "traceback": traceback.format_exc()[-4000:],
    }


def _plain(array):
    import numpy as np

    if array is None:
        return None
    array = np.asarray(array)
    if array.dtype.kind in "fc":
        return [None if not np.isfinite(v) else float(v) for v in array.reshape(-1).tolist()]
    return [v if isinstance(v, (str, int, float, bool)) or v is None else str(v) for v in array.reshape(-1).tolist()]


def load_predict(case: dict, rows) -> dict:
    from edgekit.runtime import load

    try:
        model = load(case["path"], verify=case.get("verify", True))
    except BaseException as exc:  # noqa: BLE001 - classifying everything is the point
        return _error(exc, "load")
    if rows is None:
        return {"outcome": "loaded"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prediction = model.predict(rows)
    except BaseException as exc:  # noqa: BLE001
        return _error(exc, "predict")
    return {
        "outcome": "predicted",
        "n": len(prediction),
        "values": _plain(prediction.values),
        "probabilities": _plain(prediction.probabilities),
    }


def read_manifest(case: dict, rows) -> dict:
    from edgekit.runtime import read_manifest as read

    try:
        read(case["path"])
    except BaseException as exc:  # noqa: BLE001
        return _error(exc, "manifest")
    return {"outcome": "loaded"}


def load_bundle(case: dict, rows) -> dict:
    from edgekit.train import load_bundle as load

    try:
        bundle = load(case["path"])
        if rows is not None:
            values = bundle.source_model().predict_rows(rows)
            return {"outcome": "predicted", "values": _plain(values)}
    except BaseException as exc:  # noqa: BLE001
        return _error(exc, "bundle")
    return {"outcome": "loaded"}


def cli(case: dict, rows) -> dict:
    """``edgekit ARGV`` in this process, through the console script's own entry point."""
    from edgekit.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            main(case["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - escaped main(): a raw traceback in real life
        return {
            "outcome": "cli",
            "exit": None,
            "stdout": out.getvalue()[-2000:],
            "stderr": err.getvalue()[-4000:] + "\n" + traceback.format_exc()[-4000:],
            "escaped": type(exc).__name__,
        }
    return {"outcome": "cli", "exit": code, "stdout": out.getvalue()[-2000:], "stderr": err.getvalue()[-4000:]}


ACTIONS = {"load": load_predict, "manifest": read_manifest, "bundle": load_bundle, "cli": cli}


def main(cases_path: str, results_path: str) -> None:
    with open(cases_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    rows = spec.get("rows")
    with open(results_path, "a", encoding="utf-8") as results:
        for case in spec["cases"]:
            results.write(json.dumps({"id": case["id"], "phase": "start"}) + "\n")
            results.flush()
            outcome = ACTIONS[case["action"]](case, case.get("rows", rows))
            outcome["id"] = case["id"]
            results.write(json.dumps(outcome, default=str) + "\n")
            results.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
