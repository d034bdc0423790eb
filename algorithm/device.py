"""Choosing the compute device, loudly.

A CUDA build of torch on a machine whose driver is too old silently runs on
the CPU and blows the platform's time limit; if the machine has an NVIDIA
device but torch cannot use it, we say so on stderr.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys

import numpy as np
import torch
from numpy.typing import NDArray

from algorithm.errors import ConfigError


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask; a container's ``--cpuset-cpus``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


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
