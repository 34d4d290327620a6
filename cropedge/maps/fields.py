"""Per-field (parcel) labels from a vector file: pixel probabilities aggregated per polygon.

Polygons are read with pyogrio (any vector format GDAL reads, in any CRS), moved into each
stack's CRS with GDAL's transformer (``rasterio.warp.transform``) and burnt into each window
with ``rasterio.features.rasterize`` (a pixel belongs to the field its centre falls in).
Three ways to label a field:

* ``mean`` (default): the class with the highest mean probability over the field's pixels;
  confidence = that mean;
* ``majority``: the most frequent pixel class; confidence = its share of the pixels;
* ``series``: the field's mean year-grid series is classified once, no pixel goes through
  the model (much cheaper; no class map is written); confidence = its probability.

Each stack (or share of one) leaves its per-field sums in ``OUT/.cropedge/fields/``; fields
over several stacks are merged by adding the sums, and ``write_fields`` writes one
GeoPackage with the field id, class, confidence and pixel count (polygons as given).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cropedge.atomic import atomic_path
from cropedge.data.grid import YEAR_STEPS, shift_season
from cropedge.device.jobs import STATE, Outcome, Part, Settings, load_model
from cropedge.errors import CropEdgeError

if TYPE_CHECKING:
    from rasterio.windows import Window

FIELD_MODES = ("mean", "majority", "series")
ID_COLUMNS = ("field_id", "id", "parcel_id", "fid", "ID")


@dataclass(frozen=True)
class Fields:
    """Polygons of a vector file: ids, geometries (shapely) and their CRS."""

    path: str
    ids: np.ndarray
    geometries: np.ndarray
    crs: str | None
    geometry_type: str
    wkb: np.ndarray


@lru_cache(maxsize=4)
def read_fields(path: str, id_column: str | None = None) -> Fields:
    """Read every polygon of ``path`` (cached per process: a worker reads it once)."""
    import pyogrio
    import shapely

    try:
        meta, fids, wkb, data = pyogrio.raw.read(path, return_fids=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise CropEdgeError(f"--fields {path}: not a readable vector file ({' '.join(str(exc).split())})") from None
    names = list(meta["fields"])
    if id_column is not None and id_column not in names:
        raise CropEdgeError(f"--field-id {id_column}: not a column of {path} ({', '.join(names) or 'none'})")
    column = id_column or next((c for c in ID_COLUMNS if c in names), None)
    ids = np.asarray(data[names.index(column)]) if column else np.asarray(fids)
    if len(set(ids.tolist())) != len(ids):
        raise CropEdgeError(
            f"--fields {path}: the ids in {column or 'FID'} repeat; name a unique column with --field-id")
    geoms = shapely.from_wkb(wkb)
    kinds = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]).tolist())
    if not kinds <= {3, 6}:  # Polygon, MultiPolygon
        raise CropEdgeError(f"--fields {path}: holds geometries other than polygons; fields must be polygons")
    return Fields(path, ids, geoms, meta["crs"], meta["geometry_type"], wkb)


@lru_cache(maxsize=8)
def _in_crs(path: str, id_column: str | None, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """The polygons in ``crs`` and their bounds [F, 4] (cached: each stack CRS once per process)."""
    import shapely
    from rasterio.warp import transform

    fields = read_fields(path, id_column)
    geoms = fields.geometries
    if fields.crs is not None and crs != "none":
        def move(xy: np.ndarray) -> np.ndarray:
            xs, ys = transform(fields.crs, crs, xy[:, 0], xy[:, 1])
            return np.column_stack([xs, ys])

        geoms = shapely.transform(geoms, move)
    return geoms, shapely.bounds(geoms)


def field_labels(spec: FieldsSpec, crs: Any, window_transform: Any, shape: tuple[int, int]) -> np.ndarray:
    """[h * w] int32, row-major: 1 + the index of the field each pixel centre lies in, 0 for none."""
    from rasterio.features import rasterize

    geoms, bounds = _in_crs(spec.path, spec.id_column, crs.to_string() if crs else "none")
    h, w = shape
    t = window_transform
    x0, y0 = t.c, t.f
    x1, y1 = x0 + w * t.a, y0 + h * t.e
    left, right, bottom, top = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    near = np.flatnonzero((bounds[:, 0] <= right) & (bounds[:, 2] >= left) & (bounds[:, 1] <= top)
                          & (bounds[:, 3] >= bottom))
    if not near.size:
        return np.zeros(h * w, np.int32)
    return rasterize(zip(geoms[near], near + 1, strict=True), out_shape=shape, transform=t, fill=0,
                     dtype="int32").ravel()


def sums_path(out_dir: str, part: Part) -> Path:
    """Where a part's per-field sums go."""
    rows = "all" if part.rows is None else f"rows-{part.rows[0]:07d}-{part.rows[1]:07d}"
    return Path(out_dir) / STATE / "fields" / f"{part.name}.{rows}.npz"


def _save(path: Path, **arrays: np.ndarray) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


@dataclass(frozen=True)
class FieldsSpec:
    """``--fields``: the vector file, its id column and how fields are labelled; a picklable sink factory."""

    path: str
    id_column: str | None = None
    mode: str = "mean"

    def __call__(self, part: Part, settings: Settings) -> FieldSink:
        """The sink that sums one part's pixels per field."""
        return FieldSink(self, part, settings)


class FieldSink:
    """Per-field sums of one part's classified pixels (probabilities, votes, pixel counts)."""

    def __init__(self, spec: FieldsSpec, part: Part, settings: Settings) -> None:
        """Open the part's stack for its grid; nothing is summed yet."""
        import rasterio

        self.spec, self.part, self.settings = spec, part, settings
        with rasterio.open(part.path) as src:
            self.crs, self.transform = src.crs, src.transform
        n_fields = len(read_fields(spec.path, spec.id_column).ids)
        classes = len(load_model(settings).classes)
        self.probs = np.zeros((n_fields, classes))
        self.votes = np.zeros((n_fields, classes), np.int64)
        self.count = np.zeros(n_fields, np.int64)

    def add(self, window: Window, index: np.ndarray, ids: np.ndarray, probs: np.ndarray) -> None:
        """Add the pixels of ``window`` that lie in a field."""
        from rasterio.windows import transform

        labels = field_labels(self.spec, self.crs, transform(window, self.transform),
                              (int(window.height), int(window.width)))[index]
        inside = labels > 0
        f = labels[inside] - 1
        np.add.at(self.probs, f, probs[inside])
        np.add.at(self.votes, (f, ids[inside]), 1)
        np.add.at(self.count, f, 1)

    def result(self) -> dict:
        """Save the sums of the fields this part touched; ``{"files": [path]}``."""
        seen = np.flatnonzero(self.count)
        path = sums_path(self.settings.out_dir, self.part)
        _save(path, fields=seen, probs=self.probs[seen], votes=self.votes[seen], count=self.count[seen])
        return {"files": [str(path)]}


def run_series_part(part: Part, settings: Settings) -> Outcome:
    """``series`` mode: sum each field's year-grid series over one part (no model call); resumable."""
    from cropedge.data.geotiff import GeoTiffStack
    from cropedge.device.maps import MaskReader, WindowLoader, bounded_gdal_cache, window_pixels
    from cropedge.device.season import season_offset

    spec: FieldsSpec = settings.sink
    start = time.perf_counter()
    path = sums_path(settings.out_dir, part)
    try:
        model = load_model(settings)
        fingerprint = settings.fingerprint(model.metadata.sha256)
        if path.exists():
            with np.load(path) as z:
                if str(z["fingerprint"]) == fingerprint:
                    return Outcome(part, "skipped", {"pixels": int(z["count"].sum())}, sink={"files": [str(path)]})
        n_fields = len(read_fields(spec.path, spec.id_column).ids)
        with bounded_gdal_cache(), GeoTiffStack(part.path, model.bands, settings.bands, settings.dates) as stack:
            from rasterio.windows import transform

            mask = MaskReader(settings.mask, stack) if settings.mask else None
            loader = WindowLoader(stack, model, 0.0, mask)
            windows = list(stack.windows(window_pixels(stack, model, settings.batch_size), part.rows))
            offset = season_offset(model, settings.season_offset, lambda: loader.year_sample(windows))
            model.check_dates(stack.doy, offset["days"])
            sums = np.zeros((n_fields, len(model.bands), YEAR_STEPS))
            count = np.zeros(n_fields, np.int64)
            for w in windows:
                labels = field_labels(spec, stack.crs, transform(w, stack.transform), (int(w.height), int(w.width)))
                cols, year = loader.series(w, labels > 0)
                if cols.size:
                    f = labels[cols] - 1
                    np.add.at(sums, f, shift_season(year, offset["days"]))
                    np.add.at(count, f, 1)
            if mask is not None:
                mask.close()
        seen = np.flatnonzero(count)
        _save(path, fields=seen, series=sums[seen], count=count[seen], fingerprint=np.array(fingerprint))
    except CropEdgeError as exc:
        return Outcome(part, "failed", reason=str(exc), seconds=time.perf_counter() - start)
    summary = {"pixels": int(count.sum()), "fields": int(seen.size), "season_offset": offset}
    return Outcome(part, "ok", summary, seconds=time.perf_counter() - start, sink={"files": [str(path)]})


def merge_sums(files: list[str], n_fields: int, classes: int, bands: int) -> dict[str, np.ndarray]:
    """Add up the per-field sums of every part (fields over several stacks merge here)."""
    out = {"count": np.zeros(n_fields, np.int64), "probs": np.zeros((n_fields, classes)),
           "votes": np.zeros((n_fields, classes), np.int64), "series": None}
    for f in files:
        with np.load(f) as z:
            idx = z["fields"]
            out["count"][idx] += z["count"]
            if "series" in z.files:
                if out["series"] is None:
                    out["series"] = np.zeros((n_fields, bands, YEAR_STEPS))
                out["series"][idx] += z["series"]
            else:
                out["probs"][idx] += z["probs"]
                out["votes"][idx] += z["votes"]
    return out


def label_fields(spec: FieldsSpec, files: list[str], settings: Settings) -> dict[str, np.ndarray]:
    """Per field: ``class`` (index, -1 for a field no pixel fell in), ``confidence`` and ``pixels``."""
    model = load_model(settings)
    fields = read_fields(spec.path, spec.id_column)
    sums = merge_sums(files, len(fields.ids), len(model.classes), len(model.bands))
    count = sums["count"]
    seen = count > 0
    cls = np.full(len(count), -1, np.int64)
    conf = np.full(len(count), np.nan)
    if spec.mode == "series":
        if seen.any() and sums["series"] is not None:
            mean = (sums["series"][seen] / count[seen, None, None]).astype(np.float32)
            ids, probs = model.predict(mean, settings.batch_size, season_offset_days=0.0)
            cls[seen], conf[seen] = ids, probs.max(axis=1)
    elif spec.mode == "majority":
        cls[seen] = sums["votes"][seen].argmax(axis=1)
        conf[seen] = sums["votes"][seen].max(axis=1) / count[seen]
    else:
        mean = sums["probs"][seen] / count[seen, None]
        cls[seen], conf[seen] = mean.argmax(axis=1), mean.max(axis=1)
    return {"class": cls, "confidence": conf, "pixels": count}


def write_fields(spec: FieldsSpec, files: list[str], settings: Settings, out: Path) -> dict:
    """Write the field labels as a GeoPackage (the input polygons with field_id, class, confidence, pixels)."""
    import pyogrio

    fields = read_fields(spec.path, spec.id_column)
    labels = label_fields(spec, files, settings)
    names = np.array([*load_model(settings).classes, None], dtype=object)
    data = [fields.ids, names[labels["class"]], np.round(labels["confidence"], 6), labels["pixels"]]
    with atomic_path(out, suffix=".gpkg") as tmp:
        tmp.unlink()  # the GPKG driver makes its own file
        pyogrio.raw.write(str(tmp), fields.wkb, data, ["field_id", "class", "confidence", "pixels"],
                          driver="GPKG", crs=fields.crs, geometry_type=fields.geometry_type, layer="fields")
    labelled = int((labels["pixels"] > 0).sum())
    return {"output": str(out), "fields": len(fields.ids), "labelled": labelled, "mode": spec.mode}
