"""``cropedge data import``: any supported file -> CropGlobe ``.npz``, one file per region.

So every later stage reads one format.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cropedge.data.dataset import Dataset
from cropedge.data.load import load_dataset
from cropedge.data.output import write_region_files
from cropedge.errors import CropEdgeError


def import_file(path: str | Path, out_dir: str | Path, **options: Any) -> tuple[Dataset, list[Path]]:
    """Read ``path`` (see ``load_dataset`` for the options) and write ``OUT/<region>.npz`` per region.

    Everything is read and checked before the first file is written; each file is written
    atomically, ``OUT/INCOMPLETE`` marks the folder until the last one is (see
    ``cropedge.data.output``). A file without regions is written as ``OUT/<input name>.npz``.
    """
    path, out_dir = Path(path), Path(out_dir)
    if path.is_dir():
        raise CropEdgeError(f"{path} is a folder: import takes one file (a folder of .npz files needs no import)")
    if out_dir.exists() and not out_dir.is_dir():
        raise CropEdgeError(f"--out {out_dir} is a file; give a folder to write the .npz files into")
    ds = load_dataset(path, **options)
    targets: dict[Path, str] = {}
    for region in ds.regions():
        target = out_dir / f"{_file_stem(region) or _file_stem(path.stem) or 'data'}.npz"
        if target in targets:
            raise CropEdgeError(
                f"regions '{targets[target]}' and '{region}' would both be written to {target.name}; rename one"
            )
        targets[target] = region

    def part(target: Path) -> Callable[[], Dataset]:
        def make() -> Dataset:
            chosen = ds.select_regions([targets[target]])
            # no region in the input: the file name is the region
            return chosen if targets[target] else replace(chosen, region=np.full(len(chosen), target.stem))

        return make

    inputs = [path, *([Path(options["legend_file"])] if options.get("legend_file") else [])]
    written = write_region_files(out_dir, {t: part(t) for t in targets}, inputs, f"cropedge data import {path}")
    return ds, written


def _file_stem(name: str) -> str:
    """A region name as a safe file name (letters, digits, ``-_.``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
