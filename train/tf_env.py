"""Importing TensorFlow and Keras quietly, in one place.

TensorFlow's C++ start-up logs ("All log messages before absl::InitializeLog()", oneDNN,
CUDA stubs) go straight to file descriptor 2 before TF_CPP_MIN_LOG_LEVEL is read, so
they cannot be silenced from Python's logging: for the duration of the first import only,
fd 2 is captured and dropped. Python exceptions still propagate normally.
"""

from __future__ import annotations

import os
import sys

from edgekit.runtime.native_stderr import filtered_stderr

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def import_tensorflow():
    if "tensorflow" not in sys.modules:
        with filtered_stderr(drop_all=not os.environ.get("EDGEKIT_TF_LOGS")):
            import tensorflow  # noqa: F401
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def import_keras():
    import_tensorflow()
    import keras

    return keras
