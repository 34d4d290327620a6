"""``cropedge data import``: any supported file -> CropGlobe ``.npz``, one file per region.

So every later stage reads one format.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cropedge.data.dataset import Dataset
from cropedge.data.load import load_dataset
from cropedge.errors import CropEdgeError


def import_file(path: str | Path, out_dir: str | Path, **options: Any) -> tuple[Dataset, list[Path]]:
    """Read ``path`` (see ``load_dataset`` for the options) and write ``OUT/<region>.npz`` per region.

    Everything is read and checked before the first file is written; each file is written
    atomically. A file without regions is written as ``OUT/<input name>.npz``.
    """
    path, out_dir = Path(path), Path(out_dir)
    if path.is_dir():
        raise CropEdgeError(f"{path} is a folder: import takes one file (a folder of .npz files needs no import)")
    if out_dir.exists() and not out_dir.is_dir():
        raise CropEdgeError(f"--out {out_dir} is a file; give a folder to write the .npz files into")
    ds = load_dataset(path, **options)
    targets: dict[Path, str] = {}
    for region in ds.regions():
        target = out_dir / f"{_file_stem(region) or _file_stem(path.stem)}.npz"
        if target in targets:
            raise CropEdgeError(
                f"regions '{targets[target]}' and '{region}' would both be written to {target.name}; rename one"
            )
        targets[target] = region
    parts = {t: ds.select_regions([r]) for t, r in targets.items()}
    for target, part in parts.items():
        if not targets[target]:  # no region in the input: the file name is the region
            part = replace(part, region=np.full(len(part), target.stem))
        part.save_npz(target)
    return ds, list(parts)


def _file_stem(name: str) -> str:
    """A region name as a safe file name (letters, digits, ``-_.``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
