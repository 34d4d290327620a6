"""Versions of the packages a result depends on, recorded with every run and bundle.

Reads installed distribution metadata only (``importlib.metadata``), so asking for the
versions never imports TensorFlow on a machine that has not already imported it.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from cropedge import __version__

# distributions whose version changes numbers: training, conversion and inference stacks
PACKAGES: tuple[str, ...] = (
    "numpy",
    "tensorflow",
    "tf-keras",
    "tensorflow-model-optimization",
    "ai-edge-litert",
    "tflite-runtime",
    "scikit-learn",
    "h5py",
    "pyarrow",
)


def package_versions() -> dict[str, str]:
    """``{"python": ..., "platform": ..., "cropedge": ..., <package>: <version>}`` for installed packages.

    Packages that are not installed are left out rather than reported as ``None``; CUDA and
    cuDNN build versions are added only when TensorFlow is already imported.
    """
    out = {"python": sys.version.split()[0], "platform": platform.platform(), "cropedge": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    tf = sys.modules.get("tensorflow")
    if tf is not None:  # already loaded by training: the CUDA build matters for GPU numbers
        build = tf.sysconfig.get_build_info()
        out.update({k: str(build[k]) for k in ("cuda_version", "cudnn_version") if k in build})
    return out
