"""Filtering what native code writes straight to file descriptor 2.

LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." and the TFLite
converter prints quantiser settings from C++, bypassing Python's logging. Around such
calls fd 2 is captured to a temp file; lines matching the known noise are dropped and
anything else (a real native error message) is written back to stderr.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Iterator

NOISE = (
    "INFO: Created TensorFlow Lite XNNPACK delegate",
    "fully_quantize:",
    "WARNING: All log messages before absl::InitializeLog()",
    "Estimated count of arithmetic ops",
)


@contextlib.contextmanager
def filtered_stderr(noise: tuple[str, ...] = NOISE, *, drop_all: bool = False) -> Iterator[None]:
    if os.environ.get("EDGEKIT_NATIVE_LOGS"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if not drop_all:
                capture.seek(0)
                kept = [line for line in capture.read().decode("utf-8", "replace").splitlines()
                        if line.strip() and not line.lstrip().startswith(noise) and not line.startswith("I0000")]
                if kept:
                    print("\n".join(kept), file=sys.stderr)
