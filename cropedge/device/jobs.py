"""Many stacks in one call: a plan of parts, run anywhere, resumable, failures as rows.

A stack becomes one *part* (all its rows) or, when there are fewer stacks than workers,
several parts of whole block rows. A part is self-contained (``run_part`` needs only its
``Part`` and the ``Settings``), so the same plan runs in this process, as one share of a
Slurm array or Kubernetes indexed job (``shard``), or on a Dask cluster
(``cropedge.maps.cluster``). Output folder:

* ``OUT/<stack>.tif``: the class map, renamed into place when whole; its tags hold the
  summary of the stack and a fingerprint of the settings that made it;
* ``OUT/.cropedge/parts/``: finished parts of split stacks, until the stack is assembled;
* ``OUT/.cropedge/fields/``: per-field sums of each stack (with ``--fields``).

A second call skips every map (and part) already made with the same settings: a killed
run resumes where it stopped. numpy, LiteRT and rasterio only.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cropedge.atomic import atomic_path
from cropedge.data.geotiff import is_remote
from cropedge.device.runtime import DEFAULT_BATCH, LiteModel
from cropedge.errors import CropEdgeError

STATE = ".cropedge"
SUMMARY_TAG = "CROPEDGE_SUMMARY"
FINGERPRINT_TAG = "CROPEDGE_SETTINGS"
STACK_SUFFIXES = (".tif", ".tiff", ".vrt")


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs besides its part (picklable: sent to Dask workers as it is)."""

    bundle: str
    out_dir: str
    batch_size: int = DEFAULT_BATCH
    num_threads: int | None = None
    confidence: bool = False
    season_offset: float | str | None = None
    bands: tuple[str, ...] | None = None
    dates: tuple[str, ...] | None = None
    mask: str | None = None
    sink: Any = None  # a picklable factory: sink(part, settings) -> a WindowSink with result() -> dict

    def fingerprint(self, model_sha256: str) -> str:
        """What decides the maps' content: another value means another map."""
        keys = {"model": model_sha256, "confidence": self.confidence, "season_offset": self.season_offset,
                "bands": self.bands, "dates": self.dates, "mask": self.mask,
                # the per-field sums kept with a map are those of one vector file
                "fields": [getattr(self.sink, "path", None), getattr(self.sink, "id_column", None)]}
        return hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Part:
    """Rows ``rows`` of the stack ``path`` (all rows: the whole stack), written under ``name``."""

    path: str
    name: str
    rows: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        """The stack's name, with the rows for a share of it."""
        return self.name if self.rows is None else f"{self.name} rows {self.rows[0]}..{self.rows[1] - 1}"


@dataclass
class Outcome:
    """What happened to one part: ``status`` ok, skipped or failed.

    Skipped: its map was finished before, by an earlier call or by a worker that died after
    writing it.
    """

    part: Part
    status: str
    summary: dict = field(default_factory=dict)
    reason: str | None = None
    seconds: float = 0.0
    sink: dict | None = None

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {**asdict(self), "part": asdict(self.part)}


# -- inputs ----------------------------------------------------------------------------------------


def expand_inputs(inputs: Iterable[str | Path]) -> list[str]:
    """Stack paths from files, folders (their .tif), globs and ``@list.txt`` (one path a line), in order.

    Paths GDAL opens remotely (``/vsicurl/...``, ``s3://...``) are kept as they are.
    """
    found: list[str] = []
    for item in map(str, inputs):
        if item.startswith("@"):
            listed = Path(item[1:])
            try:
                lines = listed.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise CropEdgeError(f"{item}: cannot read the list of stacks ({exc})") from None
            found += expand_inputs(s.strip() for s in lines if s.strip() and not s.strip().startswith("#"))
        elif is_remote(item):
            found.append(item)
        elif Path(item).is_dir():
            inside = sorted(str(p) for p in Path(item).iterdir()
                            if p.suffix.lower() in STACK_SUFFIXES and not p.name.startswith("."))
            if not inside:
                raise CropEdgeError(f"{item}: no GeoTIFF stacks (.tif) in this folder")
            found += inside
        elif any(c in item for c in "*?["):
            matched = sorted(glob.glob(item))
            if not matched:
                raise CropEdgeError(f"{item}: no file matches this pattern")
            found += matched
        else:
            found.append(item)
    unique = list(dict.fromkeys(found))
    names: dict[str, str] = {}
    for path in unique:
        other = names.setdefault(stack_name(path), path)
        if other != path:
            raise CropEdgeError(f"{other} and {path} would both be written as {stack_name(path)}.tif; rename one")
    return unique


def stack_name(path: str) -> str:
    """The output name of a stack: its file name without the suffix."""
    return Path(str(path).rstrip("/").rsplit("/", 1)[-1]).stem


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` -> (K, N) with 1 <= K <= N, as ``bench --shard``."""
    if text is None:
        return None
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise CropEdgeError(f"--shard {text!r}: give K/N, e.g. 3/8") from None
    if not 1 <= k <= n:
        raise CropEdgeError(f"--shard {text}: K must be between 1 and N")
    return k, n


def shard_of(stacks: list[str], shard: tuple[int, int] | None) -> list[str]:
    """This shard's stacks: every N-th by name, from the K-th (the same split on every machine)."""
    if shard is None:
        return stacks
    k, n = shard
    ordered = sorted(stacks, key=stack_name)
    return [s for i, s in enumerate(ordered) if i % n == k - 1]


def plan_parts(stacks: list[str], workers: int, settings: Settings) -> list[Part]:
    """One part per stack; with fewer stacks than ``workers``, stacks split into shares of whole block rows."""
    if len(stacks) >= workers:
        return [Part(s, stack_name(s)) for s in stacks]
    import rasterio

    share = -(-workers // len(stacks))
    parts = []
    for s in stacks:
        try:
            with rasterio.open(s) as src:
                height, block_rows = src.height, src.block_shapes[0][0]
        except rasterio.errors.RasterioIOError:
            parts.append(Part(s, stack_name(s)))  # run_part reports why it cannot be read
            continue
        step = max(block_rows, -(-height // share // block_rows) * block_rows)
        bounds = list(range(0, height, step)) + [height]
        if len(bounds) <= 2:
            parts.append(Part(s, stack_name(s)))
        else:
            parts += [Part(s, stack_name(s), (a, b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return parts


# -- where things go ---------------------------------------------------------------------------------


def map_path(out_dir: str | Path, name: str) -> Path:
    """The finished class map of stack ``name``."""
    return Path(out_dir) / f"{name}.tif"


def part_path(out_dir: str | Path, part: Part) -> Path:
    """Where a part is written: the map itself for a whole stack, else a share under ``.cropedge/parts``."""
    if part.rows is None:
        return map_path(out_dir, part.name)
    return Path(out_dir) / STATE / "parts" / f"{part.name}.rows-{part.rows[0]:07d}-{part.rows[1]:07d}.tif"


def read_record(path: Path) -> tuple[str | None, dict]:
    """(settings fingerprint, summary) from a map or part's tags; (None, {}) if unreadable."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            tags = src.tags()
        return tags.get(FINGERPRINT_TAG), json.loads(tags.get(SUMMARY_TAG, "{}"))
    except (rasterio.errors.RasterioIOError, ValueError):
        return None, {}


# -- running parts --------------------------------------------------------------------------------


_MODELS: dict[tuple[str, int | None], LiteModel] = {}


def load_model(settings: Settings) -> LiteModel:
    """The bundle, loaded once per process (a Dask worker keeps it for all its parts)."""
    key = (settings.bundle, settings.num_threads)
    if key not in _MODELS:
        _MODELS[key] = LiteModel(settings.bundle, num_threads=settings.num_threads)
    return _MODELS[key]


def run_part(part: Part, settings: Settings) -> Outcome:
    """Classify one part into its file, unless it was finished before; never raises for a bad stack."""
    from cropedge.device.maps import predict_raster

    start = time.perf_counter()
    try:
        model = load_model(settings)
        fingerprint = settings.fingerprint(model.metadata.sha256)
        target = part_path(settings.out_dir, part)
        done, summary = read_record(target) if target.exists() else (None, {})
        if done == fingerprint:
            return Outcome(part, "skipped", summary, sink=summary.get("sink"))
        for stale in target.parent.glob(f".{target.name}.*.tmp*"):  # left by a killed run: this part is ours
            stale.unlink(missing_ok=True)
        sink = settings.sink(part, settings) if settings.sink is not None else None

        def record(summary: dict) -> dict:  # into the map's tags, before it is renamed into place
            if sink is not None:
                summary["sink"] = sink.result()
            return {FINGERPRINT_TAG: fingerprint, SUMMARY_TAG: json.dumps(summary)}

        summary = predict_raster(
            model, part.path, target, bands=list(settings.bands) if settings.bands else None,
            dates=list(settings.dates) if settings.dates else None, batch_size=settings.batch_size,
            season_offset_days=settings.season_offset, confidence=settings.confidence, mask=settings.mask,
            rows=part.rows, sink=sink, tags=record,
        )
    except CropEdgeError as exc:
        return Outcome(part, "failed", reason=str(exc), seconds=time.perf_counter() - start)
    except Exception as exc:  # a stack that breaks cropedge must not stop the others; its traceback is kept
        tail = " | ".join(traceback.format_exc().strip().splitlines()[-3:])
        return Outcome(part, "failed", reason=f"{type(exc).__name__}: {exc} ({tail})",
                       seconds=time.perf_counter() - start)
    return Outcome(part, "ok", summary, seconds=time.perf_counter() - start, sink=summary.get("sink"))


def assemble(name: str, outcomes: list[Outcome], settings: Settings) -> Outcome:
    """Join the finished parts of one stack into its map (atomically) and merge their summaries."""
    import rasterio
    from rasterio.windows import Window

    parts = sorted(outcomes, key=lambda o: o.part.rows or (0, 0))
    failed = [o for o in parts if o.status == "failed"]
    seconds = sum(o.seconds for o in parts)
    whole = Part(parts[0].part.path, name)
    if len(parts) == 1 and parts[0].part.rows is None:
        return parts[0]
    if failed:
        return Outcome(whole, "failed", reason="; ".join(f"{o.part.label}: {o.reason}" for o in failed),
                       seconds=seconds)
    summary = merge_summaries([o.summary for o in parts])
    sources = [part_path(settings.out_dir, o.part) for o in parts]
    target = map_path(settings.out_dir, name)
    fingerprint = read_record(sources[0])[0] or ""
    with rasterio.open(sources[0]) as first:
        profile = {**first.profile, "height": parts[-1].part.rows[1], "transform": first.transform}  # type: ignore[index]
        colormap, tags, band_tags = first.colormap(1), first.tags(), first.tags(1)
        descriptions, scales = first.descriptions, first.scales
    with atomic_path(target, suffix=".tif") as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            for o, src_path in zip(parts, sources, strict=True):
                with rasterio.open(src_path) as src:
                    top = o.part.rows[0]  # type: ignore[index]
                    for _, w in src.block_windows(1):
                        dst.write(src.read(window=w), window=Window(w.col_off, w.row_off + top, w.width, w.height))
            dst.write_colormap(1, colormap)
            dst.update_tags(**{**tags, SUMMARY_TAG: json.dumps(summary), FINGERPRINT_TAG: fingerprint})
            dst.update_tags(1, **band_tags)
            for i, d in enumerate(descriptions, 1):
                dst.set_band_description(i, d or "")
            dst.scales = scales
    for p in sources:
        p.unlink(missing_ok=True)
    status = "skipped" if all(o.status == "skipped" for o in parts) else "ok"
    return Outcome(whole, status, summary, seconds=seconds, sink=summary.get("sink"))


def merge_summaries(summaries: list[dict]) -> dict:
    """One stack's summary from its parts': counts added, the rest from the first."""
    merged = dict(summaries[0])
    for key in ("pixels", "nodata", "masked", "filled", "seconds"):
        merged[key] = sum(s.get(key, 0) for s in summaries)
    merged["class_counts"] = {c: sum(s["class_counts"][c] for s in summaries) for c in summaries[0]["class_counts"]}
    sinks = [s["sink"] for s in summaries if s.get("sink")]
    if sinks:
        merged["sink"] = {"files": [f for s in sinks for f in s.get("files", [])]}
    return merged


def combine(name: str, outcomes: list[Outcome]) -> Outcome:
    """One stack's outcome from its parts' when nothing is to be joined (no maps: per-field series)."""
    failed = [o for o in outcomes if o.status == "failed"]
    whole = Part(outcomes[0].part.path, name)
    seconds = sum(o.seconds for o in outcomes)
    if failed:
        return Outcome(whole, "failed", reason="; ".join(f"{o.part.label}: {o.reason}" for o in failed),
                       seconds=seconds)
    status = "skipped" if all(o.status == "skipped" for o in outcomes) else "ok"
    summary = {"pixels": sum(o.summary.get("pixels", 0) for o in outcomes)}
    files = [f for o in outcomes for f in (o.sink or {}).get("files", [])]
    return Outcome(whole, status, summary, seconds=seconds, sink={"files": files})


def by_stack(outcomes: list[Outcome], settings: Settings, maps: bool = True) -> list[Outcome]:
    """One outcome per stack, in the order the stacks first appear; split maps are assembled."""
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.part.name, []).append(o)
    if not maps:
        return [combine(name, group) for name, group in groups.items()]
    return [assemble(name, group, settings) for name, group in groups.items()]


def run_in_process(parts: list[Part], settings: Settings,
                   progress: Callable[[Outcome], None] | None = None,
                   runner: Callable[[Part, Settings], Outcome] = run_part) -> list[Outcome]:
    """Run ``parts`` one after the other in this process."""
    outcomes = []
    for part in parts:
        outcomes.append(runner(part, settings))
        if progress is not None:
            progress(outcomes[-1])
    return outcomes


# -- the table ----------------------------------------------------------------------------------


def pixel_area(path: Path) -> tuple[float | None, str | None]:
    """Area of one pixel of a map in hectares, and its CRS; None for a CRS not in metres."""
    import rasterio

    with rasterio.open(path) as src:
        crs, t = src.crs, src.transform
    if crs is None or not crs.is_projected or (crs.linear_units or "").lower() not in ("metre", "meter", "m"):
        return None, str(crs) if crs else None
    return abs(t.a * t.e - t.b * t.d) / 10_000, crs.to_string()


def stack_rows(outcomes: list[Outcome], out_dir: str | Path) -> list[dict]:
    """One summary row per stack: status, pixels, seconds, px/s, class counts and areas (hectares)."""
    rows = []
    for o in outcomes:
        row: dict[str, Any] = {"stack": o.part.name, "input": o.part.path, "status": o.status,
                               "pixels": o.summary.get("pixels"), "seconds": round(o.seconds, 3)}
        row["pixels_per_second"] = (row["pixels"] / o.seconds if o.status == "ok" and o.seconds > 0 and row["pixels"]
                                    else None)
        if o.status == "failed":
            row["reason"] = o.reason
        else:
            path = map_path(out_dir, o.part.name)
            row["output"] = str(path)
            row["nodata"], row["masked"] = o.summary.get("nodata"), o.summary.get("masked")
            row["class_counts"] = o.summary.get("class_counts", {})
            row["season_offset"] = o.summary.get("season_offset")
            if path.exists():
                ha, crs = pixel_area(path)
                row["crs"] = crs
                row["class_hectares"] = ({c: round(k * ha, 4) for c, k in row["class_counts"].items()}
                                         if ha is not None else None)
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """The summary rows as an aligned text table (stack, status, pixels, seconds, px/s; reasons after)."""
    head = ("stack", "status", "pixels", "seconds", "px/s")
    body = [(r["stack"], r["status"], "-" if r["pixels"] is None else f"{r['pixels']:,}", f"{r['seconds']:.1f}",
             "-" if r["pixels_per_second"] is None else f"{r['pixels_per_second']:,.0f}") for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths, strict=True)))
             for line in (head, *body)]
    lines += [f"{r['stack']}: {r['reason']}" for r in rows if r["status"] == "failed"]
    return "\n".join(lines)


def totals(rows: list[dict]) -> dict:
    """Pixels, class counts and hectares over the finished stacks; how many failed."""
    done = [r for r in rows if r["status"] != "failed"]
    counts: dict[str, int] = {}
    hectares: dict[str, float] = {}
    for r in done:
        for c, k in r.get("class_counts", {}).items():
            counts[c] = counts.get(c, 0) + k
        for c, h in (r.get("class_hectares") or {}).items():
            hectares[c] = round(hectares.get(c, 0.0) + h, 4)
    return {"stacks": len(rows), "finished": len(done), "failed": len(rows) - len(done),
            "pixels": sum(r["pixels"] or 0 for r in done), "class_counts": counts, "class_hectares": hectares}


def fields_files(outcomes: list[Outcome]) -> list[str]:
    """The per-field sums each finished stack left (``--fields``)."""
    return [f for o in outcomes if o.status != "failed" and o.sink for f in o.sink.get("files", [])]


def cpu_count() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1

