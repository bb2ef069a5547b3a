"""Path safety: what edgekit writes stays inside the folder it was given, whatever names
the data, the model card or the command line carry.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def _tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_convert_writes_only_inside_out_even_from_a_hostile_card(svm_bundle, tmp_path):
    from edgekit.convert import ConvertOptions, convert

    bundle = tmp_path / "work" / "bundle"
    shutil.copytree(svm_bundle, bundle)
    shutil.rmtree(bundle / "exports", ignore_errors=True)
    card = json.loads((bundle / "model_card.json").read_text())
    card["winner"]["name"] = "../../../escaped-winner"
    card["winner"]["title"] = "/tmp/escaped-title"
    card["data"]["name"] = "../../escaped-data"
    (bundle / "model_card.json").write_text(json.dumps(card))
    out = tmp_path / "work" / "out"
    before = _tree(tmp_path)
    report = convert(
        bundle, out, ConvertOptions(formats=("onnx",), quantizations=("fp32", "dynamic")), show_progress=False
    )
    created = _tree(tmp_path) - before
    assert created and all(out == p or out in p.parents for p in created), sorted(created - {out})
    for result in report.results:
        if result.path:
            assert (out / result.path).resolve().is_relative_to(out.resolve())
    assert not list(tmp_path.rglob("escaped*")) and not Path("/tmp/escaped-title").exists()


def test_a_target_column_named_like_a_path_stays_inside_the_default_bundles_folder(helpers, tmp_path):
    frame = pd.DataFrame({"x": range(40), "../../../../escaped": [i * 2.0 for i in range(40)]})
    (tmp_path / "work").mkdir()
    frame.to_csv(tmp_path / "work" / "data.csv", index=False)
    before = _tree(tmp_path)
    done = helpers.run_cli(
        ["train", "data.csv", "--target", "../../../../escaped", "--models", "linear", "--cv", "2", "--jobs", "1"],
        cwd=tmp_path / "work",
    )
    assert done.returncode == 0, done.stderr
    created = _tree(tmp_path) - before
    bundles = tmp_path / "work" / "bundles"
    assert created and all(p == bundles or bundles in p.parents for p in created), sorted(created)
    (written,) = [p for p in bundles.iterdir() if not p.name.startswith(".")]
    assert "/" not in written.name and (written / "model_card.json").is_file()


def test_predict_writes_only_its_out_file(svm_onnx, tmp_path):
    from edgekit.cli.main import main

    rows = tmp_path / "in" / "rows.csv"
    rows.parent.mkdir()
    svm_onnx.frame.to_csv(rows, index=False)
    out = tmp_path / "out" / "preds.csv"
    before = _tree(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["predict", str(svm_onnx.model), str(rows), "--out", str(out)])
    assert done.value.code == 0
    assert _tree(tmp_path) - before == {out, out.parent}
