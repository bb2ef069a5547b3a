"""`edgekit serve` on a bad bundle or export exits non-zero with one error line before it
listens (request-level fuzzing of a running server belongs to the serve tests)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.slow

pytest.importorskip("edgekit.serve.server")


def test_serve_refuses_bad_bundles_and_exports_in_one_line(
    svm_bundle, svm_onnx, clf_bundle, mutations, helpers, tmp_path, summary
):
    corrupt = tmp_path / "corrupt-bundle"
    shutil.copytree(svm_bundle, corrupt)
    (corrupt / "model.skops").write_bytes(mutations.byte_flips((corrupt / "model.skops").read_bytes(), 0, 64)[:2000])
    bad_card = tmp_path / "bad-card"
    shutil.copytree(svm_bundle, bad_card)
    (bad_card / "model_card.json").write_text("{")
    tampered = tmp_path / "tampered"
    shutil.copytree(svm_onnx.model.parent, tampered)
    (tampered / "model.onnx").write_bytes(mutations.byte_flips((tampered / "model.onnx").read_bytes(), 1, 1))
    png = tmp_path / "png" / "model.onnx"
    png.parent.mkdir()
    png.write_bytes(dict(mutations.foreign_files())["png"])
    cases = {
        "missing bundle": [str(tmp_path / "nowhere")],
        "corrupted model.skops": [str(corrupt)],
        "bundle is a file": [str(png)],
        "tampered export": [str(svm_bundle), "--export", str(tampered / "model.onnx")],
        "png export": [str(svm_bundle), "--export", str(png)],
        "export of another bundle": [str(clf_bundle), "--export", str(svm_onnx.model)],
        "two workers, corrupted card": [str(bad_card), "--workers", "2"],  # the supervisor's cheap check
    }
    procs = {
        name: subprocess.Popen(
            [helpers.EDGEKIT, "serve", *args, "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=helpers.CHILD_ENV,
        )
        for name, args in cases.items()
    }
    failures = {}
    for name, proc in procs.items():
        try:
            _, stderr = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            failures[name] = "still running: it started serving a bad model"
            continue
        errors = [line for line in stderr.splitlines() if line.startswith("edgekit: ")]
        if (
            proc.returncode == 0
            or "Traceback" in stderr
            or len(errors) != 1
            or not errors[0].startswith("edgekit: error:")
        ):
            failures[name] = (proc.returncode, stderr[-1500:])
    assert not failures, failures
    summary.append(f"edgekit serve on bad inputs: {len(cases)} cases, all exited non-zero with one error line")
