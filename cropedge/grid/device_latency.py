"""Where the report's latency comes from: the device itself, the profile's estimate, or the grid machine.

The report ranks bundles by how fast they run **on the device the profile names**, never by
the grid machine's timing under the device's name:

* ``measured``: ``firmware_bench`` JSON copied back from the device (``--device-latency``).
  Its bundles are matched to the grid's by the sha256 of their flatbuffer
  (``BundleMetadata.sha256``). Latency depends on the graph, not on the weights (the grid
  itself times each model and precision once), so a measured bundle's timing stands for
  every bundle of the grid with the same model, precision and MACs.
* ``estimated``: the model's MACs divided by a throughput for its precision: the profile's
  ``throughput_gmacs`` when nothing was measured; on a measured device, for a model it did
  not time, the GMAC/s that device showed for bundles of the same precision (never another
  device's figures).
* ``grid machine``: only when the profile gives no throughput: the grid's own timing,
  named as the grid's CPU.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cropedge.errors import CropEdgeError

if TYPE_CHECKING:  # annotations only
    from cropedge.device.latency import BenchedBundle, DeviceTiming, Machine
    from cropedge.device.profile import DeviceProfile

MEASURED, ESTIMATED, GRID_MACHINE = "measured", "estimated", "grid machine"
Arch = tuple[str, str, "int | None"]  # model, precision, MACs per pixel: what latency depends on


def closest_setting(pairs: Iterable[tuple[int, int]], batch: int, threads: int) -> tuple[int, int] | None:
    """The measured (batch, threads) closest to a wanted one.

    The batch nearest on a log scale (the larger on a tie), then the most threads not above
    ``threads`` (the fewest when all are above).
    """
    pairs = set(pairs)
    if not pairs:
        return None
    best = min({b for b, _ in pairs}, key=lambda b: (abs(np.log(b / batch)), -b))
    counts = sorted(t for b, t in pairs if b == best)
    fitting = [t for t in counts if t <= threads]
    return best, (max(fitting) if fitting else counts[0])


def describe_setting(batch: int, threads: int) -> str:
    """``batch B, T thread(s)``, for headers and captions."""
    return f"batch {batch}, {threads} thread{'s' if threads != 1 else ''}"


@dataclass
class Device:
    """One device: every firmware_bench file measured on the same kind of machine, merged."""

    machine: Machine
    runtime: str
    files: list[Path] = field(default_factory=list)
    bundles: dict[str, BenchedBundle] = field(default_factory=dict)  # sha256 -> bundle
    timings: list[DeviceTiming] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The device as the report names it (its CPU model, architecture and cores)."""
        return self.machine.label


def read_devices(paths: Sequence[str | Path]) -> list[Device]:
    """Read firmware_bench JSON files, grouped by machine (CPU model, architecture, cores), in the given order.

    Raises:
        CropEdgeError: a file is missing or not a firmware_bench result.
    """
    from cropedge.device.latency import read_device_bench

    devices: dict[tuple, Device] = {}
    for path in map(Path, paths):
        bench = read_device_bench(path)
        m = bench.machine
        device = devices.setdefault((m.cpu_model, m.machine, m.cores),
                                    Device(m, f"{bench.runtime} {bench.runtime_version}"))
        device.files.append(path)
        device.bundles.update({b.sha256: b for b in bench.bundles})
        device.timings.extend(bench.timings)
    return list(devices.values())


def grid_bundles(grids: Iterable[str | Path]) -> dict[str, Arch]:
    """sha256 -> (model, precision, MACs) of every bundle in the grid folders (``GRID/bundles/*/*/``).

    Raises:
        CropEdgeError: a bundle's metadata.json is damaged.
    """
    from cropedge.device.bundle import METADATA_FILE, BundleMetadata

    found: dict[str, Arch] = {}
    for grid in map(Path, grids):
        for path in sorted((grid / "bundles").glob(f"*/*/{METADATA_FILE}")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CropEdgeError(f"{path}: unreadable ({exc}); delete the bundle folder and run "
                                    "'cropedge bench' again") from None
            meta = BundleMetadata.from_dict(data, str(path))
            found[meta.sha256] = (meta.model, meta.precision, meta.macs)
    return found


@dataclass(frozen=True)
class Latency:
    """One bundle's latency at a source's setting (milliseconds per invoke) and how it is known."""

    median_ms: float
    p95_ms: float | None
    kind: str  # MEASURED, ESTIMATED or GRID_MACHINE


@dataclass
class LatencySource:
    """What the report ranks by: per architecture, latency at one (batch, threads) on one device.

    Attributes:
        kind: ``measured`` (on the device), ``estimated`` (from the profile) or ``grid machine``.
        name: the device (or machine) in words.
        batch: pixels per invoke the latency is for.
        threads: interpreter threads.
        measured: (model, precision, MACs) -> latency, for ``measured`` and ``grid machine``.
        rates: precision -> GMAC/s at (batch, threads) that estimates what was not measured.
        rates_from: where the rates come from, in words (``the pi4 profile``, ``measured on this device``).
        device: the device's files, bundles and timings (``measured`` only).
        matched: sha256 of the device's bundles that are bundles of the grid.
    """

    kind: str
    name: str
    batch: int
    threads: int
    measured: dict[Arch, Latency] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    rates_from: str = ""
    device: Device | None = None
    matched: set[str] = field(default_factory=set)

    def describe(self) -> str:
        """``batch B, T thread(s)``."""
        return describe_setting(self.batch, self.threads)

    def latency(self, model: str, precision: str, macs: int | None) -> Latency | None:
        """The latency of a bundle of this architecture: measured if it was, else estimated, else None."""
        known = self.measured.get((model, precision, macs))
        if known is not None:
            return known
        rate = self.rates.get(precision)
        if rate is None or not macs:
            return None
        return Latency(self.batch * macs / (rate * 1e9) * 1e3, None, ESTIMATED)

    def to_dict(self) -> dict:
        """What report.json records about the source."""
        out = {"kind": self.kind, "name": self.name, "batch": self.batch, "threads": self.threads}
        if self.device is not None:
            out["files"] = [str(f) for f in self.device.files]
            out["matched_sha256"] = sorted(self.matched)
        if self.rates:
            out["estimate_gmacs"] = dict(self.rates)
            out["estimate_from"] = self.rates_from
        return out


def device_source(device: Device, arches: dict[str, Arch], profile: DeviceProfile) -> LatencySource:
    """Rank by what ``device`` measured: its bundles matched to the grid's by sha256.

    Raises:
        CropEdgeError: none of the device's bundles is a bundle of the grid.
    """
    matched = {sha for sha in device.bundles if sha in arches}
    if not matched:
        names = ", ".join(f"{b.name} ({sha[:12]})" for sha, b in device.bundles.items())
        raise CropEdgeError(
            f"{', '.join(map(str, device.files))}: none of the bundles timed on {device.name} ({names}) is a bundle "
            "of the grid (matched by the sha256 of the flatbuffer): time the grid's own bundles, "
            "GRID/bundles/<job>/<model>-<precision>/, with python -m firmware_bench"
        )
    timings = [t for t in device.timings if t.sha256 in matched]
    setting = closest_setting(((t.batch, t.threads) for t in timings), profile.batch_size, profile.threads)
    assert setting is not None  # matched bundles have timings (DeviceBench checks every timing's bundle)
    batch, threads = setting
    medians: dict[Arch, list[tuple[float, float]]] = defaultdict(list)
    for t in timings:
        if (t.batch, t.threads) == setting:
            medians[arches[t.sha256]].append((t.invoke.median_ms, t.invoke.p95_ms))
    measured = {arch: Latency(float(np.median([m for m, _ in v])), float(np.median([p for _, p in v])), MEASURED)
                for arch, v in medians.items()}
    # what the device sustained per precision: the estimate for models it did not time
    shown: dict[str, list[float]] = defaultdict(list)
    for (_, precision, macs), lat in measured.items():
        if macs and lat.median_ms > 0:
            shown[precision].append(batch * macs / (lat.median_ms / 1e3) / 1e9)
    rates = {p: float(np.median(v)) for p, v in shown.items()}
    return LatencySource(MEASURED, device.name, batch, threads, measured, rates, "measured on this device",
                         device, matched)


def estimate_source(profile: DeviceProfile) -> LatencySource:
    """Rank by the profile's estimate from MACs (the profile must give throughputs)."""
    return LatencySource(ESTIMATED, f"{profile.name} ({profile.description})", profile.batch_size, profile.threads,
                         rates=dict(profile.throughput_gmacs), rates_from=f"the {profile.name} profile's throughput")


def grid_source(rows: Sequence, profile: DeviceProfile) -> LatencySource:
    """Rank by the grid machine's own timing (a profile without throughputs), named as the grid's CPU."""
    pairs = {(lat.batch, lat.threads) for r in rows for lat in r.latency or []}
    batch, threads = closest_setting(pairs, profile.batch_size, profile.threads) or (profile.batch_size,
                                                                                     profile.threads)
    timed: dict[Arch, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        for lat in r.latency or []:
            if (lat.batch, lat.threads) == (batch, threads):
                timed[(r.model, r.precision, r.macs)].append((lat.median_ms, lat.p95_ms))
    measured = {arch: Latency(float(np.median([m for m, _ in v])), float(np.median([p for _, p in v])), GRID_MACHINE)
                for arch, v in timed.items()}
    cpu = next((r.cpu_model for r in rows if r.cpu_model), "the grid machine")
    return LatencySource(GRID_MACHINE, f"{cpu} (the grid machine)", batch, threads, measured)


def sources(
    rows: Sequence, grids: Sequence[str | Path], profile: DeviceProfile, device_files: Sequence[str | Path] = ()
) -> list[LatencySource]:
    """The latency sources of a report, the one to rank by first.

    One per device when firmware_bench files are given (in the order given), else the
    profile's estimate, else (a profile without throughputs) the grid machine.
    """
    if device_files:
        devices = read_devices(device_files)
        arches = grid_bundles(grids)
        return [device_source(d, arches, profile) for d in devices]
    if profile.throughput_gmacs:
        return [estimate_source(profile)]
    return [grid_source(rows, profile)]
