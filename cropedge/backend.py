"""The single place where TensorFlow is imported, with Keras 2 (tf-keras) selected.

TFMOT quantization-aware training works only with Keras 2, and the choice must be
made before TensorFlow is first imported: every training-side module imports
``tf`` and ``keras`` from here, never ``tensorflow`` or ``keras`` directly.
The device path (``cropedge.device.runtime``, ``cropedge.data``) never imports this module.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    import tensorflow as tf  # noqa: E402
    import tf_keras as keras  # noqa: E402
except ImportError as exc:  # pragma: no cover - depends on the install
    from cropedge.errors import CropEdgeError

    raise CropEdgeError(
        f"training needs TensorFlow and tf-keras ({exc.name} is missing): "
        'pip install "cropedge[train]"'
    ) from exc

__all__ = ["tf", "keras"]
