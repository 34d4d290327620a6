"""HDF5 files holding the CropGlobe arrays (``fea``, ``lbl`` and the optional extra keys).

Datasets are found by name anywhere in the file (``/fea`` or ``/data/fea``); h5py is
imported only when such a file is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cropedge.data.build import describe_error, import_optional
from cropedge.data.cropglobe import from_arrays
from cropedge.data.dataset import Dataset
from cropedge.errors import CropEdgeError


def read_hdf5(path: str | Path, *, classes: Sequence[str] | None = None, nodata: Sequence[float] = ()) -> Dataset:
    """Read CropGlobe arrays from an HDF5 file onto the year grid, gaps filled (see ``read_npz``)."""
    path = Path(path)
    h5py = import_optional("h5py", "HDF5 files")
    arrays: dict[str, np.ndarray] = {}

    def collect(name: str, item: object) -> None:
        if isinstance(item, h5py.Dataset):
            arrays.setdefault(name.rsplit("/", 1)[-1], item[()])

    try:
        with h5py.File(path, "r") as fh:
            fh.visititems(collect)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:  # h5py: RuntimeError for a damaged object tree
        reason = describe_error(exc)
        raise CropEdgeError(f"{path}: not a readable HDF5 file ({reason}); check the file or write it anew") from exc
    return from_arrays(arrays, path, classes=classes, nodata=nodata)
