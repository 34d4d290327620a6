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

import tokenize
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cropedge.data.build import describe_error, to_year_dataset
from cropedge.data.columns import parse_bands
from cropedge.data.dataset import Dataset
from cropedge.data.grid import CROPGLOBE_CLASSES, S2_BANDS, evenly_spaced_doy
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
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    # a damaged archive: numpy parses .npy headers with Python's tokenizer (SyntaxError, TokenError);
    # zipfile reads flipped flags as an unknown version or method, or as encryption
    except (OSError, EOFError, ValueError, SyntaxError, tokenize.TokenError, NotImplementedError, RuntimeError,
            zipfile.BadZipFile, zlib.error) as exc:  # fmt: skip
        reason = describe_error(exc)
        raise CropEdgeError(f"{path}: not a readable .npz archive ({reason}); check the file or write it anew") from exc
    return from_arrays(arrays, path, classes=classes, nodata=nodata)


def from_arrays(
    arrays: Mapping[str, np.ndarray],
    path: Path,
    *,
    classes: Sequence[str] | None = None,
    nodata: Sequence[float] = (),
) -> Dataset:
    """CropGlobe arrays (``fea``, ``lbl`` and cropedge's extra keys) from any container -> Dataset."""
    x = _pick(arrays, FEATURE_KEYS)
    if x is None:
        raise CropEdgeError(
            f"{path}: no 'fea' array (it has: {', '.join(arrays) or 'nothing'}); "
            "CropGlobe files hold fea [samples, bands, time] and lbl [samples]"
        )
    if x.ndim != 3 or x.dtype.kind not in "biuf":
        raise CropEdgeError(f"{path}: 'fea' must be numbers shaped [samples, bands, time], got {x.dtype} {x.shape}")
    bands = parse_bands(_strings(arrays["bands"])) if "bands" in arrays else None
    notes = []
    if bands is None and x.shape[1] != len(S2_BANDS) and x.shape[2] == len(S2_BANDS):
        x = x.transpose(0, 2, 1)  # [samples, time, bands]: the other common order
        notes.append("fea read as [samples, time, bands]")
    bands = bands or S2_BANDS
    if x.shape[1] != len(bands):
        raise CropEdgeError(
            f"{path}: 'fea' has {x.shape[1]} bands but {len(bands)} are expected ({','.join(bands)}); "
            "add a 'bands' array naming them"
        )
    doy = np.asarray(arrays["doy"], dtype=np.float64) if "doy" in arrays else evenly_spaced_doy(x.shape[2])
    picked = _pick(arrays, LABEL_KEYS)
    labels: np.ndarray | list[str] | None = picked
    if picked is not None and picked.dtype.kind in "SUO":
        labels, label_classes = _strings(picked), None  # names: their own class list
    else:
        label_classes = _strings(arrays["classes"]) if "classes" in arrays else classes or CROPGLOBE_CLASSES
    region = [r or path.stem for r in _strings(arrays["region"])] if "region" in arrays else [path.stem] * len(x)
    return to_year_dataset(
        x, labels, doy, bands=bands, region=region, ids=_strings(arrays["ids"]) if "ids" in arrays else None,
        source=str(path), classes=label_classes, nodata=nodata, notes=notes,
    )  # fmt: skip


def _pick(arrays: Mapping[str, np.ndarray], keys: Sequence[str]) -> np.ndarray | None:
    for key in keys:
        if key in arrays:
            return np.asarray(arrays[key])
    return None


def _strings(values: np.ndarray) -> list[str]:
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in np.asarray(values).ravel()]
