"""ONNX external data must stay inside the model's folder: '../', absolute paths and
symlinks that lead out are refused before onnxruntime opens anything (the ONNX
path-traversal CVEs). Files referenced properly, beside the model, still work.

Each escaping case points at a real file outside the folder, so a vulnerable loader
would actually read it.
"""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.slow


def _with_external(source: bytes, location: str, data_root, *, in_constant: bool = False) -> bytes:
    """The model with a zero bias added to its output, stored as external data at
    ``location`` (in a Constant node's attribute with ``in_constant``); the bias bytes are
    written to ``data_root / location`` when ``data_root`` is given."""
    import numpy as np
    import onnx
    from onnx import external_data_helper, helper, numpy_helper

    model = onnx.ModelProto()
    model.ParseFromString(source)
    tensor = numpy_helper.from_array(np.zeros(1, np.float32), "external_bias")
    payload = tensor.raw_data
    external_data_helper.set_external_data(tensor, location=location, offset=0, length=len(payload))
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    output = model.graph.output[0].name
    producer = next(n for n in model.graph.node if output in n.output)
    producer.output[list(producer.output).index(output)] = "before_bias"
    if in_constant:
        model.graph.node.append(helper.make_node("Constant", [], ["external_bias"], value=tensor))
    else:
        model.graph.initializer.append(tensor)  # (appending copies: edit the tensor first)
    model.graph.node.append(helper.make_node("Add", ["before_bias", "external_bias"], [output]))
    if data_root is not None:
        target = data_root / location
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
    return _reseal(model.SerializeToString())


def _reseal(content: bytes) -> bytes:
    """The seal is a checksum, not a signature: whoever crafts a hostile file can seal it
    again, so the external-data checks must hold on a correctly re-sealed file."""
    from edgekit.runtime import seal

    start = seal.find(content)
    return seal.seal(content[:start] + seal.ZEROS.encode() + content[start + 64:])


@pytest.fixture(scope="module")
def cases_and_outside(svm_onnx, tmp_path_factory):
    root = tmp_path_factory.mktemp("external")
    source = svm_onnx.model.read_bytes()
    outside = root / "outside"
    outside.mkdir()
    secret = outside / "weights.bin"
    secret.write_bytes(bytes(4))  # the size of the real data: a vulnerable loader would run

    def folder(name):
        path = root / name
        path.mkdir()
        return path

    cases = {}

    def add(name, content, expect, path=None):
        path = path or folder(name) / "model.onnx"
        path.write_bytes(content)
        cases[name] = (path, expect)

    f = folder("beside")
    add("beside", _with_external(source, "weights.bin", f), "ok", f / "model.onnx")
    f = folder("subfolder")
    add("subfolder", _with_external(source, "data/weights.bin", f), "ok", f / "model.onnx")
    add("dot-dot", _with_external(source, "../outside/weights.bin", None), "escapes")
    add("dot-dot-inside-path", _with_external(source, "data/../../outside/weights.bin", None), "escapes")
    add("absolute", _with_external(source, str(secret), None), "escapes")
    add("etc-passwd", _with_external(source, "/etc/passwd", None), "escapes")
    add("constant-node-dot-dot", _with_external(source, "../outside/weights.bin", None, in_constant=True), "escapes")
    f = folder("symlink-file")
    os.symlink(secret, f / "link.bin")
    add("symlink-file", _with_external(source, "link.bin", None), "resolves outside", f / "model.onnx")
    f = folder("symlink-dir")
    os.symlink(outside, f / "data")
    add("symlink-dir", _with_external(source, "data/weights.bin", None), "resolves outside", f / "model.onnx")
    add("nul-byte", _with_external(source, "weights.bin\x00../../etc/passwd", None), "refused")
    add("empty-location", _with_external(source, "", None), "refused")
    add("very-long-location", _with_external(source, "a/" * 3000 + "w.bin", None), "refused")
    add("missing-file", _with_external(source, "nowhere.bin", None), "refused")
    return cases


def test_external_data_that_leaves_the_folder_is_refused(cases_and_outside, svm_onnx, helpers, tmp_path, summary):
    cases = [
        {"id": name, "action": "load", "path": str(path), "rows": svm_onnx.rows}
        for name, (path, _) in cases_and_outside.items()
    ]
    results = helpers.run_cases(cases, tmp_path / "run")
    assert not results.bad(), results.bad()
    for name, (_, expect) in cases_and_outside.items():
        result = results[name]
        if expect == "ok":
            assert result["outcome"] == "predicted", result
            assert result["values"] == pytest.approx(svm_onnx.values, rel=1e-6)
        else:
            assert result["outcome"] == "refused" and result["error"] == "ModelLoadError", result
            if expect != "refused":
                assert expect in result["message"], result
    summary.append(f"ONNX external data: {len(cases)} files: {results.outcomes()}")


def test_the_cli_refuses_escaping_external_data_in_one_line(cases_and_outside, svm_onnx, helpers, tmp_path):
    cases = []
    for name, (path, expect) in cases_and_outside.items():
        if expect in ("escapes", "resolves outside"):
            cases.append({"id": f"info/{name}", "action": "cli", "argv": ["info", str(path)]})
            cases.append(
                {
                    "id": f"predict/{name}",
                    "action": "cli",
                    "argv": ["predict", str(path), "--json", json.dumps(svm_onnx.rows[0])],
                }
            )
    results = helpers.run_cases(cases, tmp_path / "run")
    for case in cases:
        result = results[case["id"]]
        assert helpers.one_line_error(result) is None, result
        assert "outside the model folder" in result["stderr"] or "escapes the model folder" in result["stderr"], result
