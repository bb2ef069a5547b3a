"""A lone export verifies itself: the digest sealed into the file refuses any changed byte."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from edgekit.runtime import IntegrityError, ModelLoadError, load, seal


def _lone(export, tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    target = folder / export.name
    shutil.copyfile(export, target)  # no sidecar beside it
    return target


@pytest.mark.parametrize("variant", ["tflite-fp32", "tflite-int8", "onnx-fp32"])
def test_an_unmutated_export_loads_with_and_without_its_sidecar(mpg_nn, tmp_path, variant):
    export = mpg_nn.export(variant)
    with_sidecar = load(export)
    alone = load(_lone(export, tmp_path, "alone"))
    assert alone.tensor.verified and with_sidecar.tensor.verified
    x = np.zeros((2, len(alone.schema)), np.float32)
    np.testing.assert_array_equal(alone.predict_array(x), with_sidecar.predict_array(x))
    assert seal.find(export.read_bytes()) is not None


@pytest.mark.slow
def test_every_byte_flip_of_a_lone_export_is_refused(mpg_nn, mpg_svm, tmp_path):
    """>= 500 mutants over both formats, flips anywhere, a share of them inside the embedded manifest."""
    rng = np.random.default_rng(7)
    exports = [mpg_nn.export("tflite-fp32"), mpg_nn.export("tflite-int8"), mpg_nn.export("onnx-fp32"),
               mpg_svm.export("onnx-fp32")]
    loaded = []
    tried = 0
    for i, export in enumerate(exports):
        content = export.read_bytes()
        start = content.find(b'{"')  # the embedded manifest JSON: target it too
        positions = list(rng.integers(0, len(content), size=100)) + list(rng.integers(start, min(start + 2000, len(content)), size=30))
        for j, position in enumerate(positions):
            mutant = bytearray(content)
            mutant[position] ^= int(rng.integers(1, 256))
            path = tmp_path / f"m{i}-{j}" / export.name
            path.parent.mkdir()
            path.write_bytes(bytes(mutant))
            tried += 1
            try:
                load(path)
            except ModelLoadError:
                continue
            loaded.append((export.name, int(position)))
    assert tried >= 500
    assert loaded == []


def test_a_changed_digest_names_the_seal_and_no_verify_still_runs_it(mpg_nn, tmp_path):
    export = mpg_nn.export("onnx-fp32")
    content = bytearray(export.read_bytes())
    start = seal.find(bytes(content))
    content[start] = ord("a") if content[start] != ord("a") else ord("b")  # still a hex digit, still valid JSON
    path = tmp_path / "changed" / export.name
    path.parent.mkdir()
    path.write_bytes(bytes(content))
    with pytest.raises(IntegrityError, match="digest sealed into it"):
        load(path)
    x = np.zeros((1, len(load(export).schema)), np.float32)
    np.testing.assert_array_equal(load(path, verify=False).predict_array(x), load(export).predict_array(x))


def test_seal_round_trip_on_plain_bytes():
    blob = b"head " + seal.MARKER + seal.ZEROS.encode() + b'" tail'
    sealed = seal.seal(blob)
    assert sealed != blob and len(sealed) == len(blob)
    assert seal.check(sealed, "x") is True
    assert seal.check(b"no marker here", "x") is False
    with pytest.raises(IntegrityError):
        seal.check(sealed[:-1] + b"!", "x")
