"""The start-up line's decisions, over real version tables and real ``/proc`` texts; and the line on this machine."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from algorithm.startup import (
    MINIMUM_DRIVER,
    RuntimeFacts,
    arch_supported,
    driver_from_proc,
    driver_verdict,
    gather,
    startup_line,
    version_tuple,
)
from tests.conftest import REPO

# torch._C._cuda_getArchFlags() of the two image builds
ARCH_TORCH_2_10_CU128 = ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
ARCH_TORCH_2_14_CU130 = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
# /proc/driver/nvidia/version as the proprietary and the open kernel modules write it
PROC_PROPRIETARY = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.183.01  Sun May 12 19:39:15 UTC 2024\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14) \n"
)
PROC_OPEN = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  "
    "(dvs-builder@U16-I2-C03-12-4)  Sun Jul 27 07:09:52 UTC 2025\n"
    "GCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04) \n"
)


def test_versions_compare_as_numbers() -> None:
    assert version_tuple("535.183.01") == (535, 183, 1)
    assert version_tuple("525.60.13") < version_tuple("525.105.17") < version_tuple("535.54.03")
    with pytest.raises(ValueError):
        version_tuple("535.x")


@pytest.mark.parametrize(
    "driver, cuda12, cuda13",
    [
        # the drivers AWS documents for SageMaker GPU hosts, then the boundaries of NVIDIA's table
        ("470.256.02", False, False),
        ("535.183.01", True, False),
        ("550.163.01", True, False),
        ("525.60.12", False, False),
        ("525.60.13", True, False),
        ("570.172.08", True, False),
        ("580.65.06", True, True),
        ("590.44.01", True, True),
    ],
)
def test_driver_verdict_follows_nvidias_minimum_drivers(driver: str, cuda12: bool, cuda13: bool) -> None:
    assert driver_verdict("12.8", driver).usable is cuda12
    assert driver_verdict("13.0", driver).usable is cuda13


def test_a_too_old_driver_is_explained() -> None:
    verdict = driver_verdict("13.0", "535.183.01")
    assert not verdict.usable
    assert verdict.reason == "torch's CUDA 13.0 needs NVIDIA driver >= 580.65.06, this host has 535.183.01"
    assert MINIMUM_DRIVER[12] == "525.60.13"


def test_cpu_only_torch_and_unknown_driver() -> None:
    assert not driver_verdict(None, "550.163.01").usable
    unknown = driver_verdict("12.8", None)
    assert unknown.usable and "unknown" in unknown.reason  # torch's own check decides then


@pytest.mark.parametrize(
    "capability, arch, supported",
    [
        ((7, 5), ARCH_TORCH_2_10_CU128, True),  # T4 (g4dn)
        ((8, 6), ARCH_TORCH_2_10_CU128, True),  # A10G (g5)
        ((7, 0), ARCH_TORCH_2_10_CU128, True),  # V100
        ((7, 0), ARCH_TORCH_2_14_CU130, False),  # V100: CUDA 13 dropped it
        ((8, 9), ARCH_TORCH_2_14_CU130, True),  # L4: sm_86 code runs on 8.9
        ((6, 1), ARCH_TORCH_2_10_CU128, False),  # P4
        ((12, 1), ["sm_90", "compute_90"], True),  # PTX: compiled by the driver for newer GPUs
        ((10, 0), ["sm_90"], False),
    ],
)
def test_arch_supported(capability: tuple[int, int], arch: list[str], supported: bool) -> None:
    assert arch_supported(capability, arch) is supported


def test_driver_from_proc() -> None:
    assert driver_from_proc(PROC_PROPRIETARY) == "535.183.01"
    assert driver_from_proc(PROC_OPEN) == "580.65.06"
    assert driver_from_proc("no driver here") is None


def _facts(**changes) -> RuntimeFacts:
    facts = RuntimeFacts(
        kit="0.1.0",
        torch="2.14.1+cu130",
        torch_cuda="13.0",
        torchvision="0.29.1+cu130",
        arch_flags=ARCH_TORCH_2_14_CU130,
        device="cpu (4 threads)",
    )
    for name, value in changes.items():
        setattr(facts, name, value)
    return facts


def test_line_without_a_gpu() -> None:
    assert startup_line(_facts()) == (
        "algorithm 0.1.0: torch 2.14.1+cu130 (CUDA 13.0), torchvision 0.29.1+cu130; "
        "no GPU visible; device cpu (4 threads)"
    )


def test_line_with_a_usable_gpu() -> None:
    line = startup_line(
        _facts(
            torch="2.10.0+cu128",
            torch_cuda="12.8",
            arch_flags=ARCH_TORCH_2_10_CU128,
            gpus=["NVIDIA A10G"],
            driver="535.183.01",
            cuda_available=True,
            capability=(8, 6),
            device="cuda (NVIDIA A10G)",
        )
    )
    assert "(CUDA 12.8)" in line
    assert "GPU NVIDIA A10G, driver 535.183.01: compatible (CUDA 12.x needs driver >= 525.60.13)" in line
    assert line.endswith("; device cuda (NVIDIA A10G)")


def test_line_says_why_a_visible_gpu_is_not_used() -> None:
    line = startup_line(
        _facts(
            gpus=["Tesla T4"],
            driver="535.183.01",
            cuda_available=False,
            cuda_error="torch says: CUDA initialization: The NVIDIA driver on your system "
            "is too old (found version 12020).",
        )
    )
    assert (
        "GPU Tesla T4, driver 535.183.01: NOT usable: torch's CUDA 13.0 needs NVIDIA driver >= 580.65.06, "
        "this host has 535.183.01; build the image with ./build.sh --cuda 12 or update the driver" in line
    )
    assert line.endswith("device cpu (4 threads)") and "\n" not in line


def test_line_passes_on_torchs_own_reason() -> None:
    line = startup_line(
        _facts(
            gpus=["NVIDIA L4"], driver="580.65.06", cuda_available=False, cuda_error="torch says: CUDA unknown error"
        )
    )
    assert "NOT usable: torch says: CUDA unknown error" in line


def test_line_for_a_gpu_the_build_has_no_kernels_for() -> None:
    line = startup_line(
        _facts(
            gpus=["Tesla V100-SXM2-16GB"],
            driver="580.65.06",
            cuda_available=True,
            capability=(7, 0),
            device="cuda (Tesla V100-SXM2-16GB)",
        )
    )
    assert "NOT usable: this torch has no kernels for the GPU's compute capability 7.0" in line


def test_gather_on_this_machine() -> None:
    facts = gather()
    assert facts.torch == torch.__version__ and facts.torch_cuda == torch.version.cuda
    if torch.version.cuda:
        assert facts.arch_flags and all(flag.startswith(("sm_", "compute_")) for flag in facts.arch_flags)
    if not facts.gpus:  # this kit's CI machines have no GPU
        assert not facts.cuda_available and "no GPU visible" in startup_line(facts)


def test_module_prints_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "algorithm.startup"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("algorithm ") and f"torch {torch.__version__}" in lines[0]
