"""The one in-memory form every reader produces and every later stage consumes."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cropedge.atomic import atomic_path
from cropedge.data.grid import CROPGLOBE_CLASSES, S2_BANDS, YEAR_DOY, fill_gaps, fill_missing_bands
from cropedge.errors import CropEdgeError

# what ``Dataset.save_npz`` writes: these arrays, each zip entry dated NPZ_DATE (so the same
# data give the same bytes, and a file cropedge wrote is known again: cropedge.data.output)
NPZ_ARRAYS = ("fea", "lbl", "classes", "bands", "doy", "region", "ids")
NPZ_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass
class Dataset:
    """Labelled pixel time series.

    Attributes:
        x: [N, bands, T] float32 surface reflectance (DN = reflectance x 10 000).
        y: [N] int64 class index into ``classes`` (-1 where unlabelled).
        classes: class names, in label order.
        bands: band names, in ``x`` order.
        doy: [T] day-of-year of each time step (the 73-step grid: 1, 6, ..., 361).
        region: [N] region / country / tile group of each sample.
        ids: [N] sample identifiers (strings).
        source: where the samples came from (file paths, generator settings).
        filled: how many missing values were filled by interpolation.
        dropped: how many samples were dropped because they had no valid value (in some band).
        ignored: how many samples were left out because their label is in no class of the
            chosen legend (e.g. WorldCereal's ``ignore``).
        notes: what reading changed beyond gap filling (resampling, band stand-ins), one line each.
        observed_doy: days of year the source file had observations on, before resampling
            (None: every step of the year grid); lets the device refuse a season it never saw.
    """

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...] = CROPGLOBE_CLASSES
    bands: tuple[str, ...] = S2_BANDS
    doy: np.ndarray = field(default_factory=lambda: YEAR_DOY.copy())
    region: np.ndarray | None = None
    ids: np.ndarray | None = None
    source: str = ""
    filled: int = 0
    dropped: int = 0
    ignored: int = 0
    notes: tuple[str, ...] = ()
    observed_doy: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Coerce the fields to their dtypes and check that their shapes agree."""
        self.x = np.asarray(self.x, dtype=np.float32)
        self.y = np.asarray(self.y, dtype=np.int64)
        self.classes = tuple(str(c) for c in self.classes)
        self.bands = tuple(str(b) for b in self.bands)
        self.notes = tuple(self.notes)
        if self.observed_doy is not None:
            self.observed_doy = np.asarray(self.observed_doy, dtype=np.float32)
        self.doy = np.asarray(self.doy, dtype=np.float32)
        n = len(self.x)
        if self.x.ndim != 3:
            raise CropEdgeError(f"{self.source or 'data'}: expected samples x bands x time, got shape {self.x.shape}")
        if self.y.shape != (n,):
            raise CropEdgeError(f"{self.source or 'data'}: {n} samples but {self.y.shape[0]} labels")
        if self.x.shape[1] != len(self.bands):
            raise CropEdgeError(
                f"{self.source or 'data'}: {self.x.shape[1]} bands in the data but {len(self.bands)} band names"
            )
        if self.x.shape[2] != len(self.doy):
            raise CropEdgeError(f"{self.source or 'data'}: {self.x.shape[2]} time steps but {len(self.doy)} dates")
        if n and (self.y.max(initial=-1) >= len(self.classes) or self.y.min(initial=0) < -1):
            raise CropEdgeError(
                f"{self.source or 'data'}: labels outside 0..{len(self.classes) - 1} "
                f"(classes: {', '.join(self.classes)})"
            )
        self.region = np.asarray(self.region if self.region is not None else [""] * n).astype(str)
        self.ids = np.asarray(self.ids if self.ids is not None else np.arange(n)).astype(str)
        for name, values in (("region", self.region), ("ids", self.ids)):
            if values.shape != (n,):
                raise CropEdgeError(f"{self.source or 'data'}: {n} samples but {values.size} {name} entries")

    def _meta(self) -> tuple[np.ndarray, np.ndarray]:
        """``region`` and ``ids``: always arrays once ``__post_init__`` has run."""
        assert self.region is not None and self.ids is not None, "set by __post_init__"
        return self.region, self.ids

    def __len__(self) -> int:
        """Return the number of samples."""
        return len(self.y)

    def subset(self, idx: np.ndarray) -> Dataset:
        """Samples at ``idx`` (indices or boolean mask); counts of filled/dropped are kept."""
        region, ids = self._meta()
        return replace(self, x=self.x[idx], y=self.y[idx], region=region[idx], ids=ids[idx])

    def regions(self) -> list[str]:
        """Return the distinct region names, sorted."""
        region, _ = self._meta()
        return sorted(set(region.tolist()))

    def select_regions(self, names: list[str] | tuple[str, ...]) -> Dataset:
        """Return the samples of regions ``names``; a region not in the data is an error."""
        known = self.regions()
        missing = [r for r in names if r not in known]
        if missing:
            raise CropEdgeError(
                f"region(s) {', '.join(missing)} not in the data (it has: {', '.join(known) or 'none'})"
            )
        region, _ = self._meta()
        return self.subset(np.isin(region, list(names)))

    def class_counts(self) -> dict[str, int]:
        """Return the number of labelled samples of each class (unlabelled ones not counted)."""
        counts = np.bincount(self.y[self.y >= 0], minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, counts, strict=False)}

    def clean(self) -> Dataset:
        """Fill gaps and drop samples still incomplete.

        Gaps (NaN) are filled by linear interpolation in time; a band with no valid value at
        all takes its stand-in band (``grid.BAND_STANDINS``).
        """
        x, n_filled = fill_gaps(self.x)
        x, n_copied, notes = fill_missing_bands(x, self.bands)
        empty = ~np.isfinite(x).all(axis=(1, 2))
        out = replace(
            self,
            x=x,
            filled=self.filled + n_filled + n_copied,
            dropped=self.dropped + int(empty.sum()),
            notes=self.notes + tuple(notes),
        )
        return out.subset(~empty) if empty.any() else out

    def save_npz(self, path: str | Path) -> None:
        """Write in CropGlobe form (``fea``, ``lbl``) plus the metadata cropedge keeps, atomically."""
        region, ids = self._meta()
        with atomic_path(path, suffix=".npz") as tmp:
            _savez_fixed_dates(
                tmp,
                fea=self.x,
                lbl=self.y,
                classes=np.array(self.classes),
                bands=np.array(self.bands),
                doy=self.doy,
                region=region,
                ids=ids,
            )


def _savez_fixed_dates(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` with a fixed date on every zip entry.

    So the same arrays give the same bytes (numpy stamps entries with the current time).
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=NPZ_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)


def concat(parts: list[Dataset]) -> Dataset:
    """Join datasets with the same bands, time grid and class list."""
    if not parts:
        raise CropEdgeError("no data to join")
    first = parts[0]
    for p in parts[1:]:
        if p.bands != first.bands or p.classes != first.classes or not np.array_equal(p.doy, first.doy):
            raise CropEdgeError(f"{p.source} does not match {first.source}: bands, classes or dates differ")
    return Dataset(
        x=np.concatenate([p.x for p in parts]),
        y=np.concatenate([p.y for p in parts]),
        classes=first.classes,
        bands=first.bands,
        doy=first.doy,
        region=np.concatenate([p.region for p in parts]),
        ids=np.concatenate([p.ids for p in parts]),
        source=";".join(p.source for p in parts),
        filled=sum(p.filled for p in parts),
        dropped=sum(p.dropped for p in parts),
        ignored=sum(p.ignored for p in parts),
        notes=tuple(dict.fromkeys(n for p in parts for n in p.notes)),
        observed_doy=None if any(p.observed_doy is None for p in parts)
        else np.unique(np.concatenate([p.observed_doy for p in parts])),
    )


def join(parts: list[Dataset]) -> Dataset:
    """``concat`` of datasets whose class lists differ: relabelled onto one list by name first.

    The joined list is the CropGlobe order when it covers every class, else first seen.
    """
    if all(p.classes == parts[0].classes for p in parts):
        return concat(parts)
    seen = list(dict.fromkeys(c for p in parts for c in p.classes))
    classes = CROPGLOBE_CLASSES if set(seen) <= set(CROPGLOBE_CLASSES) else tuple(seen)
    out = []
    for p in parts:
        lookup = np.array([classes.index(c) for c in p.classes] + [-1])
        out.append(replace(p, y=lookup[p.y], classes=classes))
    return concat(out)
