"""The single place where TensorFlow is imported, with Keras 2 (tf-keras) selected.

TFMOT quantization-aware training works only with Keras 2, and the choice must be
made before TensorFlow is first imported: every training-side module imports
``tf`` and ``keras`` from here, never ``tensorflow`` or ``keras`` directly.
The device path (``cropedge.device.runtime``, ``cropedge.data``) never imports this module.

TensorFlow's log lines are held back unless ``--verbose`` (``cropedge.console``):
``TF_CPP_MIN_LOG_LEVEL=3`` drops the C++ log after start-up (the ``E0000 ... failed call to
cuInit ... (303)`` line of every machine without a GPU, for one); the lines absl writes
before its log is initialised (oneDNN, CUDA stubs) ignore that level and are held back
around the import itself; the Python loggers of TensorFlow and absl are set to errors.
A level the user exported is kept.
"""

import os

from cropedge import console

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if console.is_verbose() else "3")

try:
    with console.native_quiet():
        import tensorflow as tf  # noqa: E402
        import tf_keras as keras  # noqa: E402
except ImportError as exc:  # pragma: no cover - depends on the install
    from cropedge.errors import CropEdgeError

    raise CropEdgeError(
        f"training needs TensorFlow and tf-keras ({exc.name} is missing): "
        'pip install "cropedge[train]"'
    ) from exc

if not console.is_verbose():
    import absl.logging  # noqa: E402 - installed with TensorFlow

    tf.get_logger().setLevel("ERROR")
    absl.logging.set_verbosity(absl.logging.ERROR)

__all__ = ["tf", "keras"]
