"""--target-runtime tflite-runtime-2.14: the files really load in tflite-runtime 2.14.

tflite-runtime stopped at 2.14 and needs numpy < 2, so this builds a separate virtual
environment (tflite-runtime 2.14, numpy 1.26, and edgekit's base install) and runs the
edgekit runtime there, in a fresh process.
"""

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from edgekit.convert import ConvertOptions, convert

REPO = Path(__file__).resolve().parents[2]
ROW = {"cylinders": 4, "displacement": 97, "horsepower": 88, "weight": 2130, "acceleration": 14.5, "model_year": 70, "origin": 3}
CHECK = r"""
import json, sys
from edgekit.runtime import load
out = {}
for path in sys.argv[2:]:
    try:
        model = load(path, backend="tflite-runtime")
        out[path] = ["ok", model.predict([json.loads(sys.argv[1])]).values[0].item()]
    except Exception as exc:
        out[path] = [type(exc).__name__, str(exc)]
out["heavy"] = sorted(m for m in ("tensorflow", "ai_edge_litert") if m in sys.modules)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def old_device(tmp_path_factory):
    if sys.version_info >= (3, 12):  # not a failure to hide: the old runtime cannot exist there
        pytest.skip("tflite-runtime 2.14 has wheels for Python <= 3.11 only (CI runs 3.11)")
    root = tmp_path_factory.mktemp("old-device") / "venv"
    venv.create(root, with_pip=True)
    python = root / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "tflite-runtime==2.14.*", "numpy<2", str(REPO)],
                   check=True, capture_output=True, timeout=900)
    return python


@pytest.mark.slow
def test_legacy_target_loads_in_tflite_runtime_2_14_and_the_default_dynamic_export_does_not(mpg_nn, tmp_path, old_device):
    from edgekit.runtime import load

    legacy = tmp_path / "legacy"
    report = convert(mpg_nn.bundle, legacy, ConvertOptions(formats=("tflite",), target_runtime="tflite-runtime-2.14"),
                     show_progress=False)
    assert report.passed
    files = [legacy / f"tflite-{q}" / "model.tflite" for q in ("fp32", "fp16", "dynamic", "int8")]
    default_dynamic = mpg_nn.export("tflite-dynamic")
    done = subprocess.run([old_device, "-c", CHECK, json.dumps(ROW), *map(str, files), str(default_dynamic)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result.pop("heavy") == []  # tflite-runtime alone, numpy 1.x
    for path in files:
        status, value = result[str(path)]
        assert status == "ok", (path, value)
        assert value == pytest.approx(load(path).predict([ROW]).values[0], rel=1e-5)
    status, message = result[str(default_dynamic)]
    assert status == "ModelLoadError" and "FULLY_CONNECTED" in message and "version '12'" in message
