"""The runtime stays light: importing it, or running `edgekit predict`, pulls in nothing heavy."""

import json
import subprocess
import sys

HEAVY = ("tensorflow", "keras", "sklearn", "pandas", "scipy", "click", "skl2onnx", "tf2onnx", "onnx")


def _modules_after(code: str) -> set[str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_runtime_imports_nothing_heavy():
    modules = _modules_after("import edgekit.runtime")
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []
    assert "numpy" in modules


def test_no_bare_top_level_stage_packages_are_importable_by_accident():
    modules = _modules_after("import edgekit.runtime, edgekit.train, edgekit.convert, edgekit.benchmarks")
    assert not {"runtime", "train", "convert", "benchmarks", "serve", "monitor"} & {m.split(".")[0] for m in modules}


def test_predict_command_on_a_tflite_file_never_imports_tensorflow(mpg_nn):
    model = mpg_nn.export("tflite-fp32")
    row = {"cylinders": 4, "displacement": 97, "horsepower": 88, "weight": 2130, "acceleration": 14.5,
           "model_year": 70, "origin": 3}
    code = (
        "import sys\nfrom edgekit.cli.main import cli\n"
        f"cli.main(['predict', {str(model)!r}, '--json', {json.dumps(row)!r}], standalone_mode=False)"
    )
    modules = _modules_after(code)
    assert not sorted(m for m in modules if m.split(".")[0] in ("tensorflow", "keras", "sklearn", "pandas", "scipy"))
    assert "ai_edge_litert" in {m.split(".")[0] for m in modules}
