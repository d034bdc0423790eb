"""Choosing the compute device, loudly.

A CUDA build of torch on a machine whose driver is too old silently runs on
the CPU and blows the platform's time limit; if the machine has an NVIDIA
device but torch cannot use it, we say so on stderr.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from algorithm.errors import ConfigError


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask (a container's ``--cpuset-cpus``), and no more than its
    cgroup's CPU quota allows, rounded up (``--cpus 1``: more threads than that only take turns)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = cpu_quota()
    return max(1, min(cpus, math.ceil(quota)) if quota is not None else cpus)


def cpu_quota(root: Path = Path("/sys/fs/cgroup"), cgroup: str | None = None) -> float | None:
    """CPUs' worth of time this process's cgroup may use (cgroup v2 ``cpu.max`` of the process's own cgroup,
    v1 ``cpu.cfs_quota_us``); None when unlimited or unknown."""
    try:
        quota, period = (root / (_own_cgroup() if cgroup is None else cgroup) / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def _own_cgroup() -> str:
    """This process's cgroup v2 path relative to the hierarchy's root ("" at the root, as in a container)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:].strip().lstrip("/")
    return ""


def gpu_visible() -> bool:
    """An NVIDIA device node exists (the container was given a GPU)."""
    return bool(glob.glob("/dev/nvidia[0-9]*"))


def resolve_device(requested: str = "auto") -> torch.device:
    """``auto``: CUDA when usable, else CPU; ``cuda``/``cuda:N`` must be usable or it is an error."""
    cuda = torch.cuda.is_available()
    if requested == "auto":
        if not cuda and gpu_visible():
            print(
                "warning: an NVIDIA GPU is present but torch cannot use it (driver too old for "
                f"CUDA {torch.version.cuda}?); running on the CPU, which is much slower",
                file=sys.stderr,
            )
        return torch.device("cuda" if cuda else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cuda" and not cuda:
        raise ConfigError(
            f"device {requested!r} asked for, but CUDA is not available "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})"
        )
    return device


def describe(device: torch.device) -> str:
    """The device for a log line: the GPU's name, or the CPU's thread count (what decides the speed)."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """Mixed precision on CUDA only: CPU autocast is slower here and changes results."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def to_tensor(pixels: NDArray[np.uint8], device: torch.device) -> torch.Tensor:
    """(N, H, W, 3) uint8 tiles -> (N, 3, H, W) float in [0, 1] on ``device`` (converted there)."""
    return as_float(torch.from_numpy(np.ascontiguousarray(pixels)).to(device, non_blocking=True))


def as_float(batch: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 tiles already on their device -> (N, 3, H, W) float in [0, 1] there."""
    return batch.permute(0, 3, 1, 2).float().div_(255.0)
