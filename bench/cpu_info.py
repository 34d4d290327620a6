"""What machine and software a benchmark ran on: CPU model, int8/bf16 features, versions.

The CPU part comes from ``cropedge.device.latency.cpu_info`` (the same function the device
harness uses); this adds the features that decide int8 and bf16 kernel speed and the
versions of every runtime the benchmark compares.
"""

from __future__ import annotations

from importlib import metadata

from cropedge.device.latency import cpu_info
from cropedge.versions import package_versions

# x86 int8 dot-product / matrix units and bf16 support; Arm's dot-product and int8 matmul
INT8_FEATURES = ("avx512_vnni", "avx_vnni", "amx_int8", "amx_tile", "avx512_bf16", "asimddp", "i8mm")


def machine_info() -> dict:
    """CPU model, cores, feature flags (present or not) and package versions (torch too)."""
    cpu = cpu_info()
    flags = set(cpu.get("cpu_flags", "").split())
    versions = package_versions()
    try:
        versions["torch"] = metadata.version("torch")
    except metadata.PackageNotFoundError:
        pass
    return {**cpu, "int8_features": {f: f in flags for f in INT8_FEATURES}, "versions": versions}
