"""What every section shares: scratch folder, size mode, machine facts and cached fixtures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Context:
    """Benchmark state for one run.

    Attributes:
        work: scratch folder (deleted after the run).
        quick: tiny sizes and no accuracy training.
        machine: ``bench.cpu_info.machine_info()``.
        reference: the model every ratio is about (the reference CropNet; tests pass a tiny one).
        cache: results and files sections share (trained runs, bundles, measurements).
    """

    work: Path
    quick: bool
    machine: dict
    reference: str = "cropnet"
    cache: dict = field(default_factory=dict)

    @property
    def threads(self) -> int:
        """Usable cores: the thread count for 'all cores' measurements."""
        return int(self.machine.get("cores") or 1)
