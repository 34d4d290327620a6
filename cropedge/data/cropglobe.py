"""CropGlobe pixel time series: ``.npz`` archives, one per country.

Dataset format:
    * ``fea``: [N, bands, time] surface reflectance (DN = reflectance x 10 000), the 10
      Sentinel-2 bands B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12 on the 73-step 5-day grid.
    * ``lbl``: [N] class index into corn, soybeans, rice, wheat, sugarcane, cotton, other.
    * The country is the file name (``FRA.npz`` -> ``FRA``).

Files written by cropedge add ``classes``, ``bands``, ``doy``, ``region`` and ``ids``; they
are read when present. A time axis other than 73 steps needs ``doy`` or is taken as
evenly spaced over the year. ``x``/``y`` are accepted for ``fea``/``lbl``.
"""

from __future__ import annotations

import math
import tokenize
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cropedge.data.build import decode_text, describe_error, to_year_dataset
from cropedge.data.columns import parse_bands
from cropedge.data.dataset import Dataset
from cropedge.data.grid import CROPGLOBE_CLASSES, S2_BANDS, evenly_spaced_doy
from cropedge.data.memory import READ_COPIES, check_fits, format_bytes
from cropedge.errors import CropEdgeError

_ZIP_MAGIC = b"PK\x03\x04"
FEATURE_KEYS = ("fea", "x", "X", "features")
LABEL_KEYS = ("lbl", "y", "labels", "label")


def read_npz(path: str | Path, *, classes: Sequence[str] | None = None, nodata: Sequence[float] = ()) -> Dataset:
    """Read one CropGlobe ``.npz`` file onto the year grid, gaps filled.

    Args:
        path: The ``.npz`` file.
        classes: Names of numeric labels 0..K-1 when the file has no ``classes`` array
            (default: the CropGlobe classes).
        nodata: Extra values that mean "no observation" (65535, NaN and inf always do).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(_ZIP_MAGIC))
        if magic != _ZIP_MAGIC:  # np.load would try to unpickle it
            raise CropEdgeError(f"{path}: not an .npz archive (no zip signature); save fea and lbl with np.savez")
        _check_declared_sizes(path)
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    # a damaged archive: numpy parses .npy headers with Python's tokenizer (SyntaxError, TokenError);
    # zipfile reads flipped flags as an unknown version or method, or as encryption
    except (OSError, EOFError, ValueError, SyntaxError, tokenize.TokenError, NotImplementedError, RuntimeError,
            zipfile.BadZipFile, zlib.error) as exc:  # fmt: skip
        reason = describe_error(exc)
        raise CropEdgeError(f"{path}: not a readable .npz archive ({reason}); check the file or write it anew") from exc
    return from_arrays(arrays, path, classes=classes, nodata=nodata)


def _check_declared_sizes(path: Path) -> None:
    """Refuse arrays whose ``.npy`` header declares more data than the archive holds or memory takes.

    Read from the headers alone, before numpy allocates anything.
    """
    total = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version not in ((1, 0), (2, 0), (3, 0)):
                    raise ValueError(f"'{info.filename}' has .npy format version {version}")
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)  # fmt: skip
                shape, _, dtype = read_header(fh, max_header_size=100_000)
                header = fh.tell()
            nbytes = math.prod(shape) * dtype.itemsize
            name = info.filename[: -len(".npy")]
            if nbytes > info.file_size - header:
                raise CropEdgeError(
                    f"{path}: '{name}' declares {' x '.join(map(str, shape))} {dtype} ({format_bytes(nbytes)}) "
                    f"but the archive holds {format_bytes(info.file_size)} of it; the file is damaged, write it anew"
                )
            total += nbytes + (READ_COPIES * 4 * nbytes // max(dtype.itemsize, 1) if name in FEATURE_KEYS else 0)
    check_fits(total, f"{path}", "read a smaller file (split it by region or sample)")


def from_arrays(
    arrays: Mapping[str, np.ndarray],
    path: Path,
    *,
    classes: Sequence[str] | None = None,
    nodata: Sequence[float] = (),
    region: str | None = None,
    what: str | None = None,
) -> Dataset:
    """CropGlobe arrays (``fea``, ``lbl`` and cropedge's extra keys) from any container -> Dataset.

    ``region`` names the samples when there is no ``region`` array (default: the file name);
    ``what`` names the arrays in messages (default: the file).
    """
    source = what or str(path)
    x = _pick(arrays, FEATURE_KEYS)
    if x is None:
        raise CropEdgeError(
            f"{source}: no 'fea' array (it has: {', '.join(arrays) or 'nothing'}); "
            "CropGlobe files hold fea [samples, bands, time] and lbl [samples]"
        )
    if x.ndim != 3 or x.dtype.kind not in "biuf":
        raise CropEdgeError(f"{source}: 'fea' must be numbers shaped [samples, bands, time], got {x.dtype} {x.shape}")
    bands = parse_bands(_text(arrays, "bands", source)) if "bands" in arrays else None
    notes = []
    if bands is None and x.shape[1] != len(S2_BANDS) and x.shape[2] == len(S2_BANDS):
        x = x.transpose(0, 2, 1)  # [samples, time, bands]: the other common order
        notes.append("fea read as [samples, time, bands]")
    bands = bands or S2_BANDS
    if x.shape[1] != len(bands):
        raise CropEdgeError(
            f"{source}: 'fea' has {x.shape[1]} bands but {len(bands)} are expected ({','.join(bands)}); "
            "add a 'bands' array naming them"
        )
    doy = _doy(arrays, x.shape[2], source) if "doy" in arrays else evenly_spaced_doy(x.shape[2])
    picked = _pick(arrays, LABEL_KEYS)
    labels: np.ndarray | list[str] | None = picked
    file_classes = _text(arrays, "classes", source) if "classes" in arrays else None
    label_classes: Sequence[str] | None
    if picked is not None and picked.dtype.kind in "SUO":
        labels, label_classes = decode_text(picked, f"{source}: labels"), file_classes  # names
    else:
        label_classes = file_classes or classes or CROPGLOBE_CLASSES  # indices into these
    name = region or path.stem
    regions = [r or name for r in _text(arrays, "region", source)] if "region" in arrays else [name] * len(x)
    return to_year_dataset(
        x, labels, doy, bands=bands, region=regions, ids=_text(arrays, "ids", source) if "ids" in arrays else None,
        source=source, classes=label_classes, nodata=nodata, notes=notes,
        labels_are_indices=picked is not None and picked.dtype.kind not in "SUO",
    )  # fmt: skip


def _pick(arrays: Mapping[str, np.ndarray], keys: Sequence[str]) -> np.ndarray | None:
    for key in keys:
        if key in arrays:
            return np.asarray(arrays[key])
    return None


def _text(arrays: Mapping[str, np.ndarray], key: str, source: str) -> list[str]:
    return decode_text(arrays[key], f"{source}: '{key}'")


def _doy(arrays: Mapping[str, np.ndarray], steps: int, source: str) -> np.ndarray:
    doy = np.asarray(arrays["doy"])
    if doy.dtype.kind not in "biuf" or doy.shape != (steps,) or not np.isfinite(doy.astype(np.float64)).all():
        raise CropEdgeError(f"{source}: 'doy' must be {steps} finite numbers (a day of year per time step), got "
                            f"{doy.dtype} {doy.shape}")  # fmt: skip
    return doy.astype(np.float64)
