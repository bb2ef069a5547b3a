"""Hostile .tflite/.onnx files through every runtime loader: refused with a typed error,
or (when a mutation happens to leave a runnable file) a prediction. Never a crash, a hang
or an untyped exception.

The exports are real (a Keras MLP as TFLite fp32 and int8, scikit-learn SVR and logistic
regression pipelines as ONNX). Each case runs in a child process (see conftest.run_cases),
so a segfault or hang is reported against the case that caused it.
"""

from __future__ import annotations

import json
import shutil

import pytest

pytestmark = pytest.mark.slow

N_RANDOM = 120  # random flips/truncations per export: 480 in all, plus structured edits


@pytest.fixture(scope="module")
def sources(nn_tflite, nn_tflite_int8, svm_onnx, clf_onnx):
    return {"tflite-fp32": nn_tflite, "tflite-int8": nn_tflite_int8, "onnx-svr": svm_onnx, "onnx-logistic": clf_onnx}


@pytest.fixture(scope="module")
def variants(sources, mutations):
    """Per export: (kind, name, bytes) for random, structured and foreign variants."""
    out = {}
    for key, exported in sources.items():
        data = exported.model.read_bytes()
        structured = (
            mutations.tflite_structured(data) if exported.model.suffix == ".tflite" else mutations.onnx_structured(data)
        )
        out[key] = (
            [("random", n, b) for n, b in mutations.random_mutations(data, N_RANDOM, seed=len(key))]
            + [("structured", n, b) for n, b in structured if b != data]  # e.g. quant edits of a float model
            + [("foreign", n, b) for n, b in mutations.foreign_files()]
        )
        assert not [n for _, n, _ in out[key] if n.endswith("-unbuildable")], "a structured edit failed to build"
    return out


def _cases(sources, variants, root, helpers, *, sidecar: bool):
    cases, kinds = [], {}
    for key, exported in sources.items():
        written = helpers.materialize(
            root / key,
            [(n, b) for _, n, b in variants[key]],
            exported.model.name,
            sidecar=exported.model.with_name("manifest.json") if sidecar else None,
        )
        for (kind, _, _), (name, path) in zip(variants[key], written):
            case_id = f"{key}/{name}"
            kinds[case_id] = kind
            cases.append({"id": case_id, "action": "load", "path": str(path), "verify": True, "rows": exported.rows})
    return cases, kinds


def _where(result: dict) -> str:
    """Which line of defence stopped a refused case."""
    message = result.get("message", "")
    if result["error"] == "IntegrityError":
        return "sha256"
    if result["stage"] == "predict":
        return "at predict"
    if "interpreter refused" in message or "onnxruntime refused" in message:
        return "by the native runtime at load"
    return "by edgekit's structural/manifest checks"


def test_with_the_sidecar_every_mutated_file_is_refused_by_its_sha256(sources, variants, helpers, tmp_path, summary):
    cases, _ = _cases(sources, variants, tmp_path / "files", helpers, sidecar=True)
    results = helpers.run_cases(cases, tmp_path / "run")
    assert not results.bad(), results.bad()
    wrong = {}
    for case_id, result in results.results.items():
        if case_id.endswith("/empty"):
            expected = ("ModelLoadError", "empty file")
        else:
            expected = ("IntegrityError", "does not match its manifest")
        if result["outcome"] != "refused" or result["error"] != expected[0] or expected[1] not in result["message"]:
            wrong[case_id] = result
    assert not wrong, wrong
    summary.append(
        f"runtime fuzz, sidecar present: {len(cases)} files, {len(cases) - 4} IntegrityError + 4 empty-file "
        f"ModelLoadError, 0 ran ({results.workers} worker process)"
    )


def test_without_the_sidecar_mutated_files_end_in_a_typed_error_or_a_prediction(
    sources, variants, helpers, tmp_path, summary
):
    cases, kinds = _cases(sources, variants, tmp_path / "files", helpers, sidecar=False)
    results = helpers.run_cases(cases, tmp_path / "run")
    assert not results.bad(), {k: v for k, v in results.bad().items()}
    counts: dict[str, int] = {}
    for case_id, result in results.results.items():
        key = case_id.split("/")[0]
        if result["outcome"] == "refused":
            assert {"ModelLoadError", "InferenceError", "SchemaError"} & set(result["errors"]), result
            label = f"refused {_where(result)}"
        else:
            exported = sources[key]
            assert result["n"] == len(exported.rows), result
            same = result["values"] == [float(v) if isinstance(v, float) else v for v in exported.values]
            label = "ran, same predictions" if same else "ran, DIFFERENT predictions"
        counts[label] = counts.get(label, 0) + 1
    by_kind = {k: sum(1 for c in cases if kinds[c["id"]] == k) for k in ("random", "structured", "foreign")}
    summary.append(
        f"runtime fuzz, no sidecar: {len(cases)} files ({by_kind}): "
        + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    )


def test_a_file_with_the_wrong_extension_is_run_by_its_content(sources, helpers, tmp_path, nn_bundle, svm_bundle):
    tflite, onnx = sources["tflite-fp32"], sources["onnx-svr"]
    files = {
        "tflite-as-onnx": (tflite.model.read_bytes(), "model.onnx", tflite),
        "tflite-upper-case": (tflite.model.read_bytes(), "MODEL.TFLITE", tflite),
        "onnx-as-tflite": (onnx.model.read_bytes(), "model.tflite", onnx),
        "onnx-no-extension": (onnx.model.read_bytes(), "model", onnx),
        "keras-as-tflite": ((nn_bundle / "model.keras").read_bytes(), "model.tflite", None),
        "keras": ((nn_bundle / "model.keras").read_bytes(), "model.keras", None),
        "skops-as-onnx": ((svm_bundle / "model.skops").read_bytes(), "model.onnx", None),
        "skops": ((svm_bundle / "model.skops").read_bytes(), "model.skops", None),
        "card-as-onnx": ((svm_bundle / "model_card.json").read_bytes(), "model.onnx", None),
    }
    cases = []
    for name, (content, filename, exported) in files.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / filename).write_bytes(content)
        rows = exported.rows if exported else tflite.rows
        cases.append({"id": name, "action": "load", "path": str(folder / filename), "rows": rows})
    results = helpers.run_cases(cases, tmp_path / "run")
    for name, (_, _, exported) in files.items():
        result = results[name]
        if exported is not None:
            assert result["outcome"] == "predicted", result
            assert result["values"] == pytest.approx(exported.values, rel=1e-6), name
        else:
            assert result["outcome"] == "refused" and result["error"] == "ModelLoadError", result
            assert "not a TFLite, ONNX or ORT model" in result["message"], result


def test_a_mutated_sidecar_manifest_is_refused_or_harmless(sources, mutations, helpers, tmp_path, summary):
    """A hostile manifest.json beside an intact model: its JSON is parsed and validated."""
    cases = []
    for key in ("onnx-logistic", "tflite-int8"):
        exported = sources[key]
        text = exported.model.with_name("manifest.json").read_bytes()
        variants = (
            mutations.json_mutations(json.loads(text), 60, seed=7)
            + [(n, mutations.byte_flips(text, i, 2)) for i, n in enumerate(f"flip-{i}" for i in range(10))]
            + [(f"truncate-{n}", text[:n]) for n in (0, 1, 10, len(text) // 2, len(text) - 1)]
        )
        written = helpers.materialize(
            tmp_path / key, [(n, exported.model.read_bytes()) for n, _ in variants], exported.model.name
        )
        for (name, manifest), (_, path) in zip(variants, written):
            path.with_name("manifest.json").write_bytes(manifest)
            cases.append({"id": f"{key}/{name}", "action": "load", "path": str(path), "rows": exported.rows})
    results = helpers.run_cases(cases, tmp_path / "run")
    assert not results.bad(), results.bad()
    summary.append(f"sidecar manifest fuzz: {len(cases)} manifests: {results.outcomes()}")


def _cli_cases(sources, variants, root, helpers, per_source_random: int):
    """`edgekit info` (no sidecar) and `edgekit predict` (with and without the sidecar)."""
    cases = []
    for key, exported in sources.items():
        chosen = [v for v in variants[key] if v[0] != "random"] + [v for v in variants[key] if v[0] == "random"][
            :per_source_random
        ]
        rows_json = json.dumps(exported.rows[:2])
        for sidecar in (False, True):
            written = helpers.materialize(
                root / key / ("sidecar" if sidecar else "bare"),
                [(n, b) for _, n, b in chosen],
                exported.model.name,
                sidecar=exported.model.with_name("manifest.json") if sidecar else None,
            )
            for (_, name, _), (_, path) in zip(chosen, written):
                tag = "sidecar" if sidecar else "bare"
                cases.append(
                    {
                        "id": f"predict/{tag}/{key}/{name}",
                        "action": "cli",
                        "sidecar": sidecar,
                        "argv": ["predict", str(path), "--json", rows_json],
                    }
                )
                if not sidecar:
                    cases.append({"id": f"info/{key}/{name}", "action": "cli", "argv": ["info", str(path)]})
    return cases


def test_the_cli_answers_every_bad_file_with_one_error_line(sources, variants, helpers, tmp_path, summary):
    cases = _cli_cases(sources, variants, tmp_path / "files", helpers, per_source_random=30)
    results = helpers.run_cases(cases, tmp_path / "run")
    assert not results.bad(), results.bad()
    problems, exits = {}, {}
    for case in cases:
        result = results[case["id"]]
        command = case["argv"][0]
        if result["exit"] == 0:
            exits[f"{command} ok"] = exits.get(f"{command} ok", 0) + 1
            assert not case.get("sidecar"), f"{case['id']} ran despite its sidecar: {result}"
            continue
        why = helpers.one_line_error(result)
        if why:
            problems[case["id"]] = (why, result["stderr"][-600:])
        if case.get("sidecar") and not case["id"].endswith("/empty"):
            assert "does not match its manifest" in result["stderr"], result
        exits[f"{command} exit {result['exit']}"] = exits.get(f"{command} exit {result['exit']}", 0) + 1
    assert not problems, problems
    summary.append(f"CLI fuzz (in-process edgekit info/predict): {len(cases)} runs: {dict(sorted(exits.items()))}")


def test_the_console_script_prints_one_line_not_a_traceback(sources, mutations, helpers, tmp_path):
    """The same through the installed `edgekit` script in fresh processes (a few cases)."""
    tflite, onnx = sources["tflite-int8"], sources["onnx-svr"]
    bad = {
        "truncated.tflite": tflite.model.read_bytes()[:3000],
        "png.onnx": dict(mutations.foreign_files())["png"],
        "nested.onnx": dict(mutations.foreign_files())["onnx-deep-nesting"],
        "quant-scale-zero.tflite": dict(mutations.tflite_structured(tflite.model.read_bytes()))["quant-scale-zero"],
    }
    for name, content in bad.items():
        path = tmp_path / name
        path.write_bytes(content)
        for args in (["info", str(path)], ["predict", str(path), "--json", json.dumps(onnx.rows[0])]):
            done = helpers.run_cli(args, timeout=60)
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            assert done.returncode == 1, (args, done.stderr)
            assert "Traceback" not in done.stderr, done.stderr
            assert len(lines) == 1 and lines[0].startswith("edgekit: error: "), done.stderr


def test_a_corrupted_copy_is_detected_and_no_verify_runs_it(sources, helpers, tmp_path):
    """Integrity: a weight changed in place keeps the file valid; only the sha256 notices."""
    import numpy as np
    import onnx

    exported = sources["onnx-svr"]
    folder = tmp_path / "copy"
    shutil.copytree(exported.model.parent, folder)
    model = onnx.load(str(folder / "model.onnx"))
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name == "rho":
                attribute.floats[0] += 5.0  # the SVR intercept: every prediction moves by 5
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["sha256"] and manifest["size_bytes"] == exported.model.stat().st_size

    rows = json.dumps(exported.rows)
    verified = helpers.run_cli(["predict", str(folder / "model.onnx"), "--json", rows])
    assert verified.returncode == 1
    assert "sha256" in verified.stderr and "does not match its manifest" in verified.stderr
    assert "--no-verify" in verified.stderr
    unverified = helpers.run_cli(["predict", str(folder / "model.onnx"), "--json", rows, "--no-verify"])
    assert unverified.returncode == 0, unverified.stderr
    values = [r["prediction"] for r in json.loads(unverified.stdout)]
    assert np.allclose(np.abs(np.asarray(values) - np.asarray(exported.values)), 5.0, atol=1e-3)


def test_every_export_records_its_sha256(nn_exports, models_dir, svm_onnx, clf_onnx):
    import hashlib

    folders = [nn_exports, svm_onnx.model.parent.parent, clf_onnx.model.parent.parent]
    checked = 0
    for folder in folders:
        report = json.loads((folder / "conversion.json").read_text())
        for result in report["results"]:
            if result["status"] in ("not_applicable", "failed"):
                continue
            path = folder / result["path"]
            manifest = json.loads(path.with_name("manifest.json").read_text())
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert manifest["sha256"] == result["sha256"] == digest
            assert manifest["file"] == path.name and manifest["size_bytes"] == path.stat().st_size
            checked += 1
    assert checked >= 4
