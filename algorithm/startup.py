"""The start-up line: torch and its CUDA build, the GPU and the host's driver, and whether they fit.

Why: a CUDA build of torch on a host whose NVIDIA driver is too old for it
does not fail, it runs on the CPU, many times slower, and the job only blows
its time limit. grand-challenge's GPU hosts pin no driver, so each job says in
its first line what it found and, when a GPU is there but unusable, why, in
words a participant can act on (e.g. "use an image built with --cuda 12").

The decisions (:func:`driver_verdict`, :func:`arch_supported`) are pure
functions over version strings and NVIDIA's published tables, tested on any
machine; :func:`gather` reads the facts from torch, ``/proc/driver/nvidia`` and
``nvidia-smi``; :func:`startup_line` puts them in one line.
``python -m algorithm.startup`` prints it (``test.sh`` does, before its checks).
"""

from __future__ import annotations

import contextlib
import glob
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path

# NVIDIA's CUDA Toolkit release notes, "CUDA Toolkit and Minimum Required Driver Version for
# CUDA Minor Version Compatibility" (Linux x86_64): a toolkit X.y runs on any driver at least
# this new, whatever y is (for the GPU architectures it was compiled for; no PTX JIT).
MINIMUM_DRIVER = {11: "450.80.02", 12: "525.60.13", 13: "580.65.06"}

_DRIVER_RE = re.compile(r"Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)")
_VERSION_RE = re.compile(r"^\d+(\.\d+)*$")


def version_tuple(version: str) -> tuple[int, ...]:
    """'535.183.01' -> (535, 183, 1); a version NVIDIA writes with leading zeros compares as numbers."""
    if not _VERSION_RE.match(version.strip()):
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(part) for part in version.strip().split("."))


@dataclass(frozen=True)
class Verdict:
    """Whether a GPU can be used, and the words that say why (not)."""

    usable: bool
    reason: str  # plain words: why (not), for the start-up line


def driver_verdict(torch_cuda: str | None, driver: str | None) -> Verdict:
    """Can a torch built for CUDA ``torch_cuda`` ("12.8") use a host with NVIDIA driver ``driver``?

    None for ``torch_cuda``: a CPU-only torch. None for ``driver``: not found (then only torch can tell).
    """
    if torch_cuda is None:
        return Verdict(False, "this torch is built without CUDA")
    major = version_tuple(torch_cuda)[0]
    needed = MINIMUM_DRIVER.get(major)
    if driver is None:
        return Verdict(True, f"driver version unknown (CUDA {major}.x needs >= {needed or '?'})")
    if needed is None:
        return Verdict(True, f"no driver table for CUDA {major}.x here; torch decides")
    if version_tuple(driver) < version_tuple(needed):
        return Verdict(False, f"torch's CUDA {torch_cuda} needs NVIDIA driver >= {needed}, this host has {driver}")
    return Verdict(True, f"CUDA {major}.x needs driver >= {needed}")


def arch_supported(capability: tuple[int, int], arch_flags: list[str]) -> bool:
    """Does a torch compiled for ``arch_flags`` (["sm_75", "sm_86", "compute_120"]) have kernels for the GPU?

    A cubin for sm_XY runs on sm_XZ when Z >= Y (same major); PTX (compute_XY) is compiled by the
    driver for any newer GPU.
    """
    major, minor = capability
    for flag in arch_flags:
        match = re.fullmatch(r"(sm|compute)_(\d+)(\d)[af]?", flag)
        if not match:
            continue
        kind, f_major, f_minor = match.group(1), int(match.group(2)), int(match.group(3))
        if kind == "sm" and f_major == major and f_minor <= minor:
            return True
        if kind == "compute" and (f_major, f_minor) <= (major, minor):
            return True
    return False


def driver_from_proc(text: str) -> str | None:
    """The driver version in /proc/driver/nvidia/version's text ('NVRM version: ... Kernel Module  535.183.01 ...')."""
    match = _DRIVER_RE.search(text)
    return match.group(1) if match else None


@dataclass
class RuntimeFacts:
    """What this process found; filled by :func:`gather`, or by hand in tests."""

    kit: str
    torch: str
    torch_cuda: str | None  # torch.version.cuda: None for a CPU-only build
    torchvision: str
    arch_flags: list[str] = field(default_factory=list)  # the GPU architectures torch has kernels for
    gpus: list[str] = field(default_factory=list)  # names of the visible NVIDIA GPUs
    driver: str | None = None  # the host's NVIDIA driver version
    cuda_available: bool = False  # torch.cuda.is_available()
    cuda_error: str | None = None  # torch's own words when CUDA failed to initialise
    capability: tuple[int, int] | None = None  # of GPU 0, when torch can see it
    device: str = "cpu"  # the device the job runs on, as device.describe words it


def gpu_verdict(facts: RuntimeFacts) -> Verdict | None:
    """None without a visible GPU; else whether torch can use it and, if not, why."""
    if not facts.gpus:
        return None
    verdict = driver_verdict(facts.torch_cuda, facts.driver)
    if not verdict.usable:
        return verdict
    if not facts.cuda_available:
        why = facts.cuda_error or "torch cannot initialise CUDA"
        return Verdict(False, why)
    if facts.capability is not None and facts.arch_flags and not arch_supported(facts.capability, facts.arch_flags):
        major, minor = facts.capability
        return Verdict(
            False,
            f"this torch has no kernels for the GPU's compute capability {major}.{minor} "
            f"(built for {' '.join(facts.arch_flags)})",
        )
    return verdict


def startup_line(facts: RuntimeFacts) -> str:
    """One line: versions, GPU and driver, the verdict, and the device the job runs on."""
    cuda = f"CUDA {facts.torch_cuda}" if facts.torch_cuda else "CPU-only"
    parts = [f"algorithm {facts.kit}: torch {facts.torch} ({cuda}), torchvision {facts.torchvision}"]
    verdict = gpu_verdict(facts)
    if verdict is None:
        parts.append("no GPU visible")
    else:
        gpus = ", ".join(facts.gpus)
        driver = f"driver {facts.driver}" if facts.driver else "driver unknown"
        if verdict.usable:
            parts.append(f"GPU {gpus}, {driver}: compatible ({verdict.reason})")
        else:
            advice = ""
            if facts.torch_cuda and facts.driver and "needs NVIDIA driver" in verdict.reason:
                advice = "; build the image with ./build.sh --cuda 12 or update the driver"
            parts.append(f"GPU {gpus}, {driver}: NOT usable: {verdict.reason}{advice}")
    parts.append(f"device {facts.device}")
    return "; ".join(parts)


def _proc_gpus() -> list[str]:
    names = []
    for info in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        try:
            text = Path(info).read_text()
        except OSError:
            continue
        match = re.search(r"^Model:\s*(.+)$", text, re.MULTILINE)
        names.append(match.group(1).strip() if match else "NVIDIA GPU")
    return names


def _nvidia_smi() -> tuple[list[str], str | None]:
    """GPU names and driver version from nvidia-smi, when it is there and answers."""
    if shutil.which("nvidia-smi") is None:
        return [], None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return [], None
    rows = [[cell.strip() for cell in line.split(",")] for line in out.splitlines() if line.strip()]
    return [row[0] for row in rows], (rows[0][-1] if rows and len(rows[0]) > 1 else None)


def gather() -> RuntimeFacts:
    """Read the facts from this process and host (``device`` is left for the caller to fill in).

    Call it before anything else asks torch about CUDA: torch words a failed initialisation
    only once per process, and that is the reason the line gives.
    """
    import torch
    import torchvision

    from algorithm import __version__

    flags = getattr(torch._C, "_cuda_getArchFlags", None)  # compiled-in; known without a GPU
    facts = RuntimeFacts(
        kit=__version__,
        torch=torch.__version__,
        torch_cuda=torch.version.cuda,
        torchvision=torchvision.__version__,
        arch_flags=(flags() or "").split() if flags and torch.version.cuda else [],
    )
    proc = Path("/proc/driver/nvidia/version")
    if proc.is_file():
        with contextlib.suppress(OSError):
            facts.driver = driver_from_proc(proc.read_text())
    facts.gpus = _proc_gpus()
    if (facts.gpus or glob.glob("/dev/nvidia[0-9]*")) and (facts.driver is None or not facts.gpus):
        names, driver = _nvidia_smi()  # a GPU is there, but /proc did not say all
        facts.gpus = facts.gpus or names or ["NVIDIA GPU"]
        facts.driver = facts.driver or driver
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        facts.cuda_available = bool(torch.version.cuda) and torch.cuda.is_available()
    if facts.cuda_available:
        major, minor = torch.cuda.get_device_capability(0)
        facts.capability = (major, minor)
        if not facts.gpus:  # no /proc/driver/nvidia here (not Linux, or hidden): torch's names
            facts.gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    elif caught:
        first = str(caught[0].message).strip().splitlines()[0]
        facts.cuda_error = f"torch says: {first}"
    return facts


def main() -> int:
    """Print the start-up line for ``--device auto`` (as a job would choose) and exit 0."""
    import torch

    from algorithm.device import describe

    facts = gather()
    facts.device = describe(torch.device("cuda" if facts.cuda_available else "cpu"))
    print(startup_line(facts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
