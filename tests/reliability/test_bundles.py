"""Hostile bundles: corrupted model.keras / model.skops / model_card.json / data splits,
a Keras file with a Lambda layer, skops files that reference untrusted types. Through
``load_bundle``, ``edgekit convert`` and ``edgekit info``: a typed error in one line, or a
normal run when a mutation leaves the bundle valid.
"""

from __future__ import annotations

import builtins
import json
import os
import shutil

import pytest
from sklearn.preprocessing import StandardScaler

pytestmark = pytest.mark.slow


class Evil(StandardScaler):
    """A class no allow-list knows: loading it would import and run this module's code."""


def _copy_bundle(source, target):
    shutil.copytree(source, target)
    shutil.rmtree(target / "exports", ignore_errors=True)
    return target


def _bundle_cases(name, bundle, fmt):
    """load_bundle, `edgekit convert` and `edgekit info` on one bundle folder."""
    return [
        {"id": f"{name}/load", "action": "bundle", "path": str(bundle)},
        {
            "id": f"{name}/convert",
            "action": "cli",
            "argv": [
                "convert",
                str(bundle),
                "--out",
                str(bundle.parent / f"{bundle.name}-exports"),
                "--to",
                fmt,
                "--quantize",
                "fp32",
                "--max-degradation",
                "50",
            ],
        },
        {"id": f"{name}/info", "action": "cli", "argv": ["info", str(bundle)]},
    ]


def _check(results, cases, helpers):
    """Every case ended cleanly; returns {outcome: count}."""
    assert not results.bad(), results.bad()
    counts: dict[str, int] = {}
    problems = {}
    for case in cases:
        result = results[case["id"]]
        if result["outcome"] == "cli":
            key = f"{case['argv'][0]} exit {result['exit']}"
            why = helpers.one_line_error(result) if result["exit"] != 0 else None
            if why:
                problems[case["id"]] = (why, result["stderr"][-400:])
        else:
            key = f"load_bundle {result['outcome']}" + (f" {result['error']}" if result["outcome"] == "refused" else "")
        counts[key] = counts.get(key, 0) + 1
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())
    return dict(sorted(counts.items()))


def test_a_keras_file_with_a_lambda_layer_is_refused(nn_bundle, helpers, tmp_path):
    from edgekit.train.keras_model import _keras

    keras = _keras()
    bundle = _copy_bundle(nn_bundle, tmp_path / "lambda")
    model = keras.Sequential([keras.Input((7,)), keras.layers.Lambda(lambda x: x * 2.0), keras.layers.Dense(1)])
    (bundle / "model.keras").unlink()
    model.save(bundle / "model.keras")
    cases = _bundle_cases("lambda", bundle, "tflite")
    results = helpers.run_cases(cases, tmp_path / "run")
    assert results["lambda/load"]["outcome"] == "refused", results["lambda/load"]
    assert "Lambda" in results["lambda/load"]["message"] and "safe_mode" in results["lambda/load"]["message"]
    convert = results["lambda/convert"]
    assert helpers.one_line_error(convert) is None and "Lambda layer" in convert["stderr"], convert


@pytest.mark.parametrize("what", ["builtins.eval", "posix.system", "Evil"])
def test_a_skops_file_with_an_untrusted_type_is_refused_and_named(what, svm_bundle, helpers, tmp_path):
    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.svm import SVR

    bundle = _copy_bundle(svm_bundle, tmp_path / "untrusted")
    first = {
        "builtins.eval": FunctionTransformer(func=builtins.eval),
        "posix.system": FunctionTransformer(func=os.system),
        "Evil": Evil(),
    }[what]
    (bundle / "model.skops").unlink()
    sio.dump(Pipeline([("first", first), ("model", SVR())]), bundle / "model.skops")
    cases = _bundle_cases("untrusted", bundle, "onnx")
    results = helpers.run_cases(cases, tmp_path / "run")
    load = results["untrusted/load"]
    assert load["outcome"] == "refused" and load["error"] == "ModelLoadError", load
    assert "untrusted type" in load["message"] and what in load["message"], load
    convert = results["untrusted/convert"]
    assert helpers.one_line_error(convert) is None and what in convert["stderr"], convert


def test_corrupted_model_files_and_cards_end_in_one_error_line(
    svm_bundle, nn_bundle, mutations, helpers, tmp_path, summary
):
    cases = []

    def variant(source, name, edit, fmt):
        bundle = _copy_bundle(source, tmp_path / "bundles" / name)
        edit(bundle)
        cases.extend(_bundle_cases(name, bundle, fmt))

    def replace(filename, content):
        def edit(bundle):
            (bundle / filename).write_bytes(content)

        return edit

    foreign = {n: b for n, b in mutations.foreign_files() if n in ("empty", "png", "zip", "json", "random-1k")}
    skops = (svm_bundle / "model.skops").read_bytes()
    for name, content in mutations.random_mutations(skops, 24, seed=3) + list(foreign.items()):
        variant(svm_bundle, f"skops-{name}", replace("model.skops", content), "onnx")
    keras = (nn_bundle / "model.keras").read_bytes()
    for name, content in mutations.random_mutations(keras, 10, seed=4) + list(foreign.items()):
        variant(nn_bundle, f"keras-{name}", replace("model.keras", content), "tflite")
    card_text = (svm_bundle / "model_card.json").read_bytes()
    card = json.loads(card_text)
    for name, content in (
        mutations.json_mutations(card, 40, seed=5)
        + [(f"flip-{i}", mutations.byte_flips(card_text, i, 3)) for i in range(8)]
        + [(f"truncate-{n}", card_text[:n]) for n in (0, 1, 100, len(card_text) // 2)]
    ):
        variant(svm_bundle, f"card-{name}", replace("model_card.json", content), "onnx")

    def remove(relative):
        def edit(bundle):
            target = bundle / relative
            shutil.rmtree(target) if target.is_dir() else target.unlink()

        return edit

    def card_is_a_folder(bundle):
        (bundle / "model_card.json").unlink()
        (bundle / "model_card.json").mkdir()

    test_csv = (svm_bundle / "data" / "test.csv").read_text()
    structural = {
        "no-model-file": remove("model.skops"),
        "no-test-split": remove("data/test.csv"),
        "no-data-folder": remove("data"),
        "card-is-a-folder": card_is_a_folder,
        "test-split-empty": replace("data/test.csv", b""),
        "test-split-header-only": replace("data/test.csv", test_csv.splitlines()[0].encode() + b"\n"),
        "test-split-column-renamed": replace("data/test.csv", test_csv.replace("weight", "wieght", 1).encode()),
        "test-split-text-in-numbers": replace("data/test.csv", test_csv.replace("\n8,", "\neight,", 1).encode()),
        "test-split-binary": replace("data/test.csv", mutations.foreign_files()[2][1]),
        "train-split-empty": replace("data/train.csv", b""),
    }
    for name, edit in structural.items():
        variant(svm_bundle, f"structure-{name}", edit, "onnx")

    def framework(name):
        def edit(bundle):
            card = json.loads((bundle / "model_card.json").read_text())
            card["winner"]["framework"] = name
            (bundle / "model_card.json").write_text(json.dumps(card))
        return edit

    # Wrong formats under the right names, and cards that name the other framework.
    variant(svm_bundle, "swap-keras-as-skops", replace("model.skops", keras), "onnx")
    variant(nn_bundle, "swap-skops-as-keras", replace("model.keras", skops), "tflite")
    variant(svm_bundle, "swap-card-says-keras", framework("keras"), "onnx")
    variant(nn_bundle, "swap-card-says-sklearn", framework("sklearn"), "tflite")
    not_a_folder = tmp_path / "bundles" / "a-file"
    not_a_folder.write_text("not a bundle")
    cases.extend(_bundle_cases("not-a-folder", not_a_folder, "onnx"))

    results = helpers.run_cases(cases, tmp_path / "run", case_timeout=120)
    counts = _check(results, cases, helpers)
    n_bundles = len(cases) // 3
    summary.append(f"bundle fuzz: {n_bundles} bundles x (load_bundle, convert, info): {counts}")
