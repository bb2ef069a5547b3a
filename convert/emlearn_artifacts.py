"""The folder a firmware project takes from an emlearn row, written atomically.

``model.h`` is self-contained C99 (emlearn's inline trees, the preprocessing, and
``model_predict(const float *raw)``); ``example_main.c`` is the host program the row was
verified with; ``model.json`` holds the settings and measured sizes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgekit.convert.emlearn_c import CModel, example_main
from edgekit.convert.mcu_report import McuResult
from edgekit.runtime.errors import ConversionError
from edgekit.runtime.io import atomic_directory, write_text

USAGE = """\
model.h is plain C99 with no dependencies: include it in one source file.

    #include "model.h"
    float raw[MODEL_N_INPUTS] = { /* features in schema order, NAN when missing */ };
    {rtype} y = model_predict(raw);

example_main.c is the host check edgekit ran (cc -std=c99 -O1 example_main.c -lm): it
reads float32 rows from a file and prints one prediction per row.
"""


def write_emlearn_artifacts(model: CModel, result: McuResult, out: str | os.PathLike, *, replace: bool = False) -> Path:
    if result.status != "passed":
        raise ConversionError(f"{result.name}: no C artifacts for a {result.status} model: {result.reason}")
    out = Path(out)
    with atomic_directory(out, replace=replace) as tmp:
        write_text(tmp / "model.h", model.header)
        write_text(tmp / "example_main.c", example_main(model))
        write_text(tmp / "README.txt", USAGE.replace("{rtype}", model.return_type))
        facts = {"source": result.source, "inputs": model.n_inputs, "classifier": model.classifier,
                 "classes": [str(c) for c in model.classes] if model.classes is not None else None,
                 "settings": model.settings, "parity": result.parity, "metric": result.metric, "sizes": result.sizes}
        write_text(tmp / "model.json", json.dumps(facts, indent=2, default=str) + "\n")
    return out
