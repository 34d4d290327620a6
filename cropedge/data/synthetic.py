"""Synthetic CropGlobe-like data: the embedded default when no real data is at hand.

Each sample is a Sentinel-2 pixel over one year on the 73-step grid, 10 bands in DN
(reflectance x 10 000), built as a mix of four spectra whose weights follow the crop's
phenology:

    x(t) = g(t) * canopy + r(t) * residue + w(t) * water + (1 - g - r - w) * soil

* g(t), green cover: double logistic ``B + A [s((t-x0)/x1) - s((t-x2)/x3)]`` (s = logistic),
  one or more seasons per class, summed over neighbouring years so seasons wrap the year;
* r(t), dry residue: senesced canopy and stubble between senescence and harvest / tillage
  (bright SWIR, long for wheat);
* w(t), standing water: flooded rice paddies before the canopy closes (low NIR and SWIR).

Per class: a calendar on the French (FRA) reference, amplitudes and a canopy spectrum
(``CLASS_PROFILES``); ``other`` is a mix of grassland, fallow, spring and winter crops.
Per region (``REGIONS``): green-up shift, season stretch, soil brightness, noise, residual
cloud rate and class mix. Southern regions (ARG, AUS) move the calendar by 182 days plus
their own shift, so the fixed model window (day 121..334) holds only part of each season:
the case that season alignment and time augmentation are for. ``shift_strength`` scales
every regional deviation from FRA (0: all northern regions draw from the FRA
distribution, southern ones differ by the hemisphere offset alone).

CropGlobe files are gap-free, so residual clouds and shadows are stored as brightened /
darkened values, not NaN (``gap_fraction`` adds NaN gaps for testing gap filling).
Values are rounded to whole DN like real products. Everything is drawn from one seeded
generator per region, so the same seed gives the same files, byte for byte.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from cropedge.data.dataset import Dataset, concat
from cropedge.data.grid import CROPGLOBE_CLASSES, S2_BANDS, YEAR_DOY
from cropedge.data.memory import check_fits
from cropedge.data.output import write_region_files
from cropedge.errors import CropEdgeError

YEAR_DAYS = 365.0
# generating a region holds about this many float32 copies of its series at the peak (measured 8.4)
GENERATE_COPIES = 9
HEMISPHERE_OFFSET_DAYS = 182.0

# Spectra in DN for B2 B3 B4 B5 B6 B7 B8 B8A B11 B12.
SOIL = np.array([1000, 1300, 1800, 2100, 2400, 2600, 3000, 3100, 3600, 3000], np.float64)
RESIDUE = np.array([1100, 1450, 1750, 2050, 2400, 2650, 2900, 3000, 4300, 3500], np.float64)
WATER = np.array([750, 800, 600, 520, 440, 400, 360, 340, 160, 110], np.float64)
CLOUD = np.array([6500, 6300, 6200, 6300, 6400, 6400, 6500, 6500, 5000, 3800], np.float64)


@dataclass(frozen=True)
class Season:
    """One green bump of a double logistic: days of year on the FRA calendar, rates in days."""

    greenup: float
    greenup_rate: float
    senescence: float
    senescence_rate: float
    amplitude: float


@dataclass(frozen=True)
class Profile:
    """How one kind of field looks over the year.

    Attributes:
        canopy: full-cover spectrum (10 bands, DN).
        seasons: green bumps; the first is the main crop.
        base: green cover all year round (perennials, winter cover).
        residue: peak dry-residue cover after the main season's senescence.
        residue_days: days from senescence to harvest / tillage (how long residue lasts).
        flood_days: (start, end) of standing water relative to the main green-up, or None.
    """

    canopy: tuple[float, ...]
    seasons: tuple[Season, ...]
    base: float = 0.0
    residue: float = 0.6
    residue_days: float = 25.0
    flood_days: tuple[float, float] | None = None


def _canopy(peak_b4: float, peak_b8: float, b11: float, b12: float, red_edge: float = 1.0) -> tuple[float, ...]:
    """A canopy spectrum from its red, NIR and SWIR levels (visible and red edge follow)."""
    b5 = 900 * red_edge
    return (peak_b4 * 0.95, peak_b4 * 2.1, peak_b4, b5, 0.61 * peak_b8 * red_edge, 0.86 * peak_b8, peak_b8,
            1.02 * peak_b8, b11, b12)


CLASS_PROFILES: dict[str, tuple[tuple[float, Profile], ...]] = {
    # maize: bare B4~1800 / B8~3000 -> peak B4~260 / B8~4900 (NDVI ~0.9)
    "corn": ((1.0, Profile(_canopy(260, 4900, 2200, 1000), (Season(160, 7, 250, 8, 0.85),),
                           residue=0.7, residue_days=30)),),
    # later than corn, brighter NIR, lower SWIR
    "soybeans": ((1.0, Profile(_canopy(300, 5300, 2000, 900, red_edge=1.08), (Season(178, 6, 262, 6, 0.9),),
                               residue=0.6, residue_days=20)),),
    # flooded before transplanting, lower NIR
    "rice": ((1.0, Profile(_canopy(320, 3900, 1700, 750, red_edge=0.95), (Season(180, 6, 255, 7, 0.8),),
                           residue=0.5, residue_days=20, flood_days=(-55, 10))),),
    # winter wheat: autumn emergence, spring green-up, early peak, bright SWIR stubble after harvest
    "wheat": ((1.0, Profile(_canopy(330, 4400, 2300, 1100),
                            (Season(85, 9, 172, 6, 0.8), Season(300, 10, 445, 10, 0.15)),
                            residue=0.85, residue_days=75)),),
    # perennial, long season
    "sugarcane": ((1.0, Profile(_canopy(280, 4600, 1900, 850), (Season(115, 15, 320, 12, 0.65),), base=0.25,
                                residue=0.3, residue_days=15)),),
    # late, lower peak, more soil showing
    "cotton": ((1.0, Profile(_canopy(400, 4100, 2500, 1300, red_edge=1.05), (Season(192, 8, 280, 8, 0.6),),
                             residue=0.5, residue_days=25)),),
    "other": (
        (0.4, Profile(_canopy(450, 3800, 2500, 1300), (Season(80, 15, 300, 15, 0.3),), base=0.35,
                      residue=0.1, residue_days=10)),  # grassland
        (0.2, Profile(_canopy(450, 3800, 2500, 1300), (Season(120, 12, 220, 15, 0.25),), base=0.05,
                      residue=0.2, residue_days=20)),  # fallow
        (0.2, Profile(_canopy(350, 4500, 2300, 1100), (Season(150, 7, 235, 7, 0.7),),
                      residue=0.6, residue_days=20)),  # spring crops (sunflower, potato)
        (0.2, Profile(_canopy(450, 4700, 2400, 1200, red_edge=1.05), (Season(70, 10, 160, 7, 0.8),
                                                                     Season(270, 10, 430, 10, 0.25)),
                      residue=0.6, residue_days=30)),  # winter crops (rapeseed, barley)
    ),
}


@dataclass(frozen=True)
class Region:
    """Per-region knobs, as deviations from the FRA reference.

    Attributes:
        hemisphere_days: calendar offset (0 north, 182 south); not scaled by ``shift_strength``.
        greenup_shift: days added to every green-up / senescence date.
        season_stretch: season length factor around its midpoint.
        soil_brightness: soil spectrum factor.
        noise: measurement noise factor.
        cloud_fraction: share of dates with residual cloud or shadow.
        class_mix: samples per class as a fraction of ``samples_per_class`` (0 = absent).
    """

    hemisphere_days: float = 0.0
    greenup_shift: float = 0.0
    season_stretch: float = 1.0
    soil_brightness: float = 1.0
    noise: float = 1.0
    cloud_fraction: float = 0.06
    class_mix: tuple[float, ...] = (1.0,) * len(CROPGLOBE_CLASSES)

    def scaled(self, strength: float) -> Region:
        """This region with its deviations from FRA multiplied by ``strength``."""
        ref = REGIONS["FRA"]

        def mix(v: float, r: float, lo: float = 0.05, hi: float = 10.0) -> float:
            return float(np.clip(r + (v - r) * strength, lo, hi))

        return replace(
            self,
            greenup_shift=mix(self.greenup_shift, ref.greenup_shift, -YEAR_DAYS, YEAR_DAYS),
            season_stretch=mix(self.season_stretch, ref.season_stretch),
            soil_brightness=mix(self.soil_brightness, ref.soil_brightness),
            noise=mix(self.noise, ref.noise),
            cloud_fraction=mix(self.cloud_fraction, ref.cloud_fraction, 0.0, 0.9),
        )


# class_mix order: corn, soybeans, rice, wheat, sugarcane, cotton, other. Class sets follow the
# reference's test-time crop sets: AUS grows sugarcane and cotton, CHN corn, soybeans and rice,
# ARG everything but wheat; the rest of each region is "other". Southern calendars run later
# than a plain half-year flip (ARG by 90 days: late maize, second-crop soybeans; AUS by 95:
# cotton and cane sown late), which puts their seasons about 90 days earlier than in FRA: the
# peak comes as the model window (day 121..334) opens and it sees senescence and harvest. That
# is out of reach of CropNet's own shift tolerance (global pooling copes with seasons moving
# inside the window, not out of it) and partly within that of +-50-day time shifts
# (calibrated with CropNet trained on FRA, docs/results.md).
REGIONS: dict[str, Region] = {
    "FRA": Region(),
    "BEL": Region(greenup_shift=6, season_stretch=0.97, soil_brightness=0.93, noise=1.1, cloud_fraction=0.10,
                  class_mix=(1.0, 0.6, 0.4, 1.0, 0.4, 0.4, 1.2)),
    "NLD": Region(greenup_shift=9, season_stretch=0.95, soil_brightness=0.88, noise=1.1, cloud_fraction=0.12,
                  class_mix=(1.0, 0.5, 0.3, 1.0, 0.3, 0.3, 1.4)),
    "GBR": Region(greenup_shift=12, season_stretch=0.94, soil_brightness=0.95, noise=1.2, cloud_fraction=0.15,
                  class_mix=(0.8, 0.4, 0.3, 1.2, 0.3, 0.3, 1.4)),
    "USA": Region(greenup_shift=-10, season_stretch=1.06, soil_brightness=1.08, noise=1.0, cloud_fraction=0.05,
                  class_mix=(1.3, 1.3, 0.6, 1.0, 0.5, 0.8, 1.0)),
    "CHN": Region(greenup_shift=18, season_stretch=0.9, soil_brightness=1.2, noise=1.3, cloud_fraction=0.08,
                  class_mix=(1.4, 1.0, 1.2, 0.0, 0.0, 0.0, 1.0)),
    "ARG": Region(hemisphere_days=HEMISPHERE_OFFSET_DAYS, greenup_shift=90, season_stretch=1.1,
                  soil_brightness=0.85, noise=1.1, cloud_fraction=0.05,
                  class_mix=(1.2, 1.4, 0.5, 0.0, 0.6, 0.6, 1.0)),
    "AUS": Region(hemisphere_days=HEMISPHERE_OFFSET_DAYS, greenup_shift=95, season_stretch=0.9,
                  soil_brightness=1.3, noise=1.2, cloud_fraction=0.03,
                  class_mix=(0.0, 0.0, 0.0, 0.0, 1.4, 1.0, 1.0)),
}
SOUTHERN = tuple(name for name, r in REGIONS.items() if r.hemisphere_days)


def _logistic(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


def _bump(
    t: np.ndarray, x0: np.ndarray, x1: np.ndarray | float, x2: np.ndarray, x3: np.ndarray | float
) -> np.ndarray:
    """s((t-x0)/x1) - s((t-x2)/x3), summed over the neighbouring years so it wraps the year."""
    out: np.ndarray | float = 0.0
    for k in (-1.0, 0.0, 1.0):
        tk = t + k * YEAR_DAYS
        out = out + _logistic((tk - x0) / x1) - _logistic((tk - x2) / x3)
    return np.asarray(out)  # already an array (t is one): asarray only tells the type


def _profile_samples(
    profile: Profile, n: int, region: Region, jitter: float, rng: np.random.Generator
) -> np.ndarray:
    """[n, bands, 73] reflectance for ``n`` fields of one profile in one region (before noise)."""
    t = YEAR_DOY.astype(np.float64)[None, :]
    col = (n, 1)
    # one date offset per field moves all its seasons together, plus a little per season
    field_shift = rng.normal(0.0, 8.0 * jitter, col) + region.hemisphere_days + region.greenup_shift
    green = np.full((n, t.shape[1]), profile.base) + rng.normal(0.0, 0.03 * jitter, col)
    main = None
    for season in profile.seasons:
        mid = (season.greenup + season.senescence) / 2 + field_shift + rng.normal(0.0, 4.0 * jitter, col)
        half = (season.senescence - season.greenup) / 2 * region.season_stretch * rng.lognormal(0, 0.06 * jitter, col)
        x0, x2 = mid - half, mid + half
        x1 = season.greenup_rate * region.season_stretch * rng.lognormal(0, 0.15 * jitter, col)
        x3 = season.senescence_rate * region.season_stretch * rng.lognormal(0, 0.15 * jitter, col)
        amp = season.amplitude * np.clip(rng.normal(1.0, 0.08 * jitter, col), 0.5, 1.3)
        green = green + amp * _bump(t, x0, x1, x2, x3)
        if main is None:
            main = (x0, x2, amp)
    green = np.clip(green, 0.0, 1.0)

    assert main is not None, "every profile has a season"
    x0, x2, amp = main
    harvest = x2 + profile.residue_days * region.season_stretch * rng.lognormal(0, 0.2 * jitter, col)
    residue = np.clip(profile.residue * amp * _bump(t, x2, 6.0, harvest, 4.0), 0.0, None)
    water = np.zeros_like(green)
    if profile.flood_days is not None:
        water = 0.8 * _bump(t, x0 + profile.flood_days[0], 4.0, x0 + profile.flood_days[1], 5.0) * (1 - green)
    residue = np.minimum(residue, 1.0 - green)
    water = np.minimum(water, 1.0 - green - residue)
    soil_w = 1.0 - green - residue - water

    bands = np.arange(len(S2_BANDS)) / (len(S2_BANDS) - 1) - 0.5
    soil = SOIL * region.soil_brightness * rng.lognormal(0, 0.12 * jitter, col) * (
        1 + rng.normal(0, 0.08 * jitter, col) * bands  # soil colour: redder or greyer
    )
    canopy = np.asarray(profile.canopy) * rng.normal(1.0, 0.05 * jitter, col) * rng.normal(
        1.0, 0.03 * jitter, (n, len(S2_BANDS))
    )
    residue_spec = RESIDUE * rng.normal(1.0, 0.08 * jitter, col)
    x = (
        green[:, None, :] * canopy[:, :, None]
        + residue[:, None, :] * residue_spec[:, :, None]
        + water[:, None, :] * WATER[None, :, None]
        + soil_w[:, None, :] * soil[:, :, None]
    )
    return x


def _observe(x: np.ndarray, region: Region, gap_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Add what a sensor adds: noise, residual clouds and shadows, optional gaps; round to DN."""
    n, _, steps = x.shape
    x = x + rng.normal(0.0, 1.0, x.shape) * region.noise * (30.0 + 0.03 * x)
    cloudy = rng.random((n, 1, steps)) < region.cloud_fraction
    haze = rng.uniform(0.1, 0.6, (n, 1, steps))
    x = np.where(cloudy, x + haze * (CLOUD[None, :, None] - x), x)
    shadow = rng.random((n, 1, steps)) < region.cloud_fraction / 3
    x = np.where(shadow, x * rng.uniform(0.4, 0.8, (n, 1, steps)), x)
    x = np.clip(np.rint(x), 1.0, 10000.0).astype(np.float32)
    if gap_fraction > 0:
        x[np.broadcast_to(rng.random((n, 1, steps)) < gap_fraction, x.shape)] = np.nan
    return x


def generate_region(
    name: str,
    samples_per_class: int = 200,
    seed: int = 0,
    shift_strength: float = 1.0,
    jitter: float = 1.0,
    gap_fraction: float = 0.0,
) -> Dataset:
    """Synthetic samples for one region on the 73-step year grid.

    Args:
        name: a key of ``REGIONS`` (ARG AUS BEL CHN FRA GBR NLD USA).
        samples_per_class: samples of a class at class-mix weight 1 (absent classes get none).
        seed: random seed; the same (seed, name) gives the same data whatever else is generated.
        shift_strength: multiplies the region's deviations from FRA (0 = FRA-like, 1 = table).
        jitter: multiplies the field-to-field variation within a class (in-domain difficulty).
        gap_fraction: share of dates stored as NaN (missing); 0 = gap-free like CropGlobe.

    Returns:
        A Dataset with region ``name`` and ids ``NAME-00000`` ...
    """
    if name not in REGIONS:
        raise CropEdgeError(f"unknown synthetic region {name!r}; choose from {', '.join(REGIONS)}")
    if samples_per_class < 1:
        raise CropEdgeError(f"samples_per_class={samples_per_class}: use 1 or more")
    if shift_strength < 0 or jitter < 0 or not 0 <= gap_fraction < 1:
        raise CropEdgeError("shift_strength and jitter must be >= 0 and gap_fraction in 0..1 (exclusive)")
    region = REGIONS[name].scaled(shift_strength)
    _check_size(name, samples_per_class, shift_strength)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    xs, ys = [], []
    for label, cls in enumerate(CROPGLOBE_CLASSES):
        n = int(round(samples_per_class * region.class_mix[label]))
        if n == 0:
            continue
        weights = np.array([w for w, _ in CLASS_PROFILES[cls]])
        counts = rng.multinomial(n, weights / weights.sum())
        for (_, profile), k in zip(CLASS_PROFILES[cls], counts, strict=False):
            if k:
                xs.append(_profile_samples(profile, int(k), region, jitter, rng))
                ys.append(np.full(int(k), label))
    x = _observe(np.concatenate(xs), region, gap_fraction, rng)
    y = np.concatenate(ys)
    order = rng.permutation(len(y))
    return Dataset(
        x=x[order],
        y=y[order],
        region=np.full(len(y), name),
        ids=np.array([f"{name}-{i:05d}" for i in range(len(y))]),
        source=f"synthetic:{name}(seed={seed}, samples_per_class={samples_per_class}, "
        f"shift_strength={shift_strength}, jitter={jitter}, gap_fraction={gap_fraction})",
    )


def _check_size(name: str, samples_per_class: int, shift_strength: float) -> None:
    """Refuse a region that could not be generated in the memory available (before drawing it)."""
    if name not in REGIONS:
        raise CropEdgeError(f"unknown synthetic region {name!r}; choose from {', '.join(REGIONS)}")
    mix = REGIONS[name].scaled(shift_strength).class_mix
    total = sum(int(round(samples_per_class * w)) for w in mix)
    check_fits(
        total * len(S2_BANDS) * YEAR_DOY.size * 4 * GENERATE_COPIES,
        f"{total} synthetic samples of {name} ({samples_per_class} per class)",
        "ask for fewer --samples-per-class",
    )


def generate(regions: tuple[str, ...] | list[str] = tuple(REGIONS), samples_per_class: int = 200, seed: int = 0,
             **knobs: float) -> Dataset:
    """Several regions in one Dataset (see ``generate_region`` for the knobs)."""
    return concat([generate_region(r, samples_per_class, seed, **knobs) for r in regions])


def synthesize(
    out_dir: str | Path,
    samples_per_class: int = 200,
    seed: int = 0,
    regions: tuple[str, ...] | list[str] = tuple(REGIONS),
    **knobs: float,
) -> list[Path]:
    """Write one CropGlobe ``.npz`` per region (``ARG.npz`` ...) into ``out_dir``; return the paths.

    Deterministic: the same arguments give byte-identical files.
    """
    out = Path(out_dir)
    for name in regions:
        _check_size(name, samples_per_class, knobs.get("shift_strength", 1.0))
    parts = {out / f"{name}.npz": partial(generate_region, name, samples_per_class, seed, **knobs)
             for name in sorted(regions)}  # fmt: skip
    return write_region_files(out, parts, command=f"cropedge data synth --out {out}")
