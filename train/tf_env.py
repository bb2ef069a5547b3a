"""Importing TensorFlow and Keras quietly, in one place.

TensorFlow's C++ start-up logs ("All log messages before absl::InitializeLog()", oneDNN,
CUDA stubs) go straight to file descriptor 2 before TF_CPP_MIN_LOG_LEVEL is read, so
they cannot be silenced from Python's logging: for the duration of the first import only,
fd 2 is pointed at /dev/null. Python exceptions still propagate normally.
"""

from __future__ import annotations

import contextlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def _stderr_silenced():
    if os.environ.get("EDGEKIT_TF_LOGS"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow():
    if "tensorflow" not in sys.modules:
        with _stderr_silenced():
            import tensorflow  # noqa: F401
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def import_keras():
    import_tensorflow()
    import keras

    return keras
