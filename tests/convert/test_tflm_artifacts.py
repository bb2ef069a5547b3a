"""TFLM C artifacts: the array really holds the model (compiled with the host g++ and
written back out), the resolver registers exactly the ops LiteRT reports, the files build
for a Cortex-M4F, and a bundle gets a complete MCU folder."""

import json
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.slow

DUMP = """\
#include <cstdio>
#include "model_data.h"
int main() { return std::fwrite(g_model, 1, g_model_len, stdout) == g_model_len ? 0 : 1; }
"""


@pytest.fixture(scope="module")
def written(foreign, mpg_nn, tmp_path_factory):
    """(model file, C folder) for the foreign CNN and the Auto MPG network, int8."""
    from edgekit.convert.tflm import check_tflm
    from edgekit.convert.tflm_artifacts import write_tflm_artifacts

    root = tmp_path_factory.mktemp("tflm_c")
    out = []
    for model in (foreign.cnn_int8, mpg_nn.export("tflite-int8")):
        check = check_tflm(model)
        assert check.passed, check.result.reason
        out.append((model, write_tflm_artifacts(check, root / model.parent.name / "c")))
    return out


def test_model_data_cc_holds_the_model_bytes(written, tmp_path):
    compiler = shutil.which("g++") or shutil.which("c++")
    for model, folder in written:
        (tmp_path / "dump.cc").write_text(DUMP)
        program = tmp_path / "dump"
        subprocess.run([compiler, "-std=c++11", "-I", str(folder), str(tmp_path / "dump.cc"), str(folder / "model_data.cc"),
                        "-o", str(program)], check=True, capture_output=True)
        dumped = subprocess.run([str(program)], check=True, capture_output=True).stdout
        assert dumped == model.read_bytes()
        assert re.search(r"alignas\(16\) const unsigned char g_model\[\] = \{", (folder / "model_data.cc").read_text())


def test_model_ops_h_registers_exactly_the_ops_litert_reports(written):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgekit.convert.tflm_ops import TFLM_METHODS

    op_of = {method: op for op, method in TFLM_METHODS.items()}
    for model, folder in written:
        # Without the XNNPACK delegate, which would fold the graph into one DELEGATE node.
        interp = Interpreter(model_path=str(model),
                             experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interp.allocate_tensors()
        litert_ops = {op["op_name"] for op in interp._get_ops_details()}
        header = (folder / "model_ops.h").read_text()
        methods = re.findall(r"resolver\.(Add\w+)\(\)", header)
        assert len(methods) == len(set(methods)), "an op is registered twice"
        assert {op_of[m] for m in methods} == litert_ops
        assert f"kModelOpCount = {len(litert_ops)};" in header
        assert "tflite::MicroMutableOpResolver<kModelOpCount>" in header


def test_arena_constant_is_the_measured_minimum_plus_a_margin(written):
    for _, folder in written:
        facts = json.loads((folder / "model.json").read_text())
        constant = int(re.search(r"kTensorArenaSize = (\d+);", (folder / "model_data.h").read_text()).group(1))
        assert constant == facts["kTensorArenaSize"] and constant % 16 == 0
        assert facts["arena_bytes"] * 1.10 <= constant <= facts["arena_bytes"] * 1.10 + 256 + 16


def test_model_data_builds_for_a_cortex_m4f(written):
    # CI installs Debian's gcc-arm-none-eabi; the check compiles model_data.cc with it.
    for model, folder in written:
        arm = json.loads((folder / "model.json").read_text())["sizes"]["cortex_m4f_model_data"]
        assert model.stat().st_size <= arm["text"] <= model.stat().st_size + 32  # the array, its length, alignment
        assert arm["data"] == 0 and arm["bss"] == 0  # const: all of it stays in flash
        print(f"\n{model.name}: Cortex-M4F .text {arm['text']} B for a {model.stat().st_size} B model")


def test_bundle_gets_an_mcu_folder_from_its_int8_export(mpg_nn, tmp_path):
    from edgekit.convert.mcu import convert_mcu
    from edgekit.convert.mcu_budget import McuBudget

    report = convert_mcu(mpg_nn.bundle, tmp_path / "mcu", exports=mpg_nn.exports, budget=McuBudget.parse("64KB", "1MB"))
    by_name = {r.name: r for r in report.results}
    assert by_name["tflm-int8"].status == "passed" and by_name["emlearn"].status == "not_applicable"
    assert report.passed
    folder = tmp_path / "mcu"
    assert sorted(p.name for p in (folder / "tflm-int8").iterdir()) == [
        "README.txt", "model.json", "model_data.cc", "model_data.h", "model_ops.h"]
    rows = json.loads((folder / "mcu.json").read_text())["results"]
    assert rows[0]["artifacts"] == "tflm-int8" and rows[0]["budget"]["fits"] is True
    table = (folder / "mcu.md").read_text()
    assert "| tflm | tflm-int8 | int8, float I/O |" in table and "| fits | pass |" in table
