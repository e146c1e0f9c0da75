"""Import TensorFlow without the start-up chatter it prints straight to file descriptor 2.

TensorFlow's C++ start-up writes absl / CUDA-probe lines to stderr before its log level
applies; a user error must stay one line on stderr, so the CLI imports it through here."""

from __future__ import annotations

import os
import sys

_probed = False


def import_tensorflow():
    """Import TensorFlow and probe devices with stderr silenced, once (also where something else
    imported TensorFlow first: the device probe prints the CUDA lines); later messages pass."""
    global _probed
    if _probed:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
        _probed = True
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tf
