"""algorithm.device: choosing the device, mixed precision on CUDA only, tiles as floats."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from algorithm.device import as_float, autocast, available_cpus, cpu_quota, resolve_device
from algorithm.errors import ConfigError


def test_autocast_is_a_no_op_on_the_cpu() -> None:
    with autocast(torch.device("cpu"), True):
        assert not torch.is_autocast_enabled("cpu")


def test_as_float_gives_nchw_in_unit_range() -> None:
    tiles = torch.from_numpy(np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3))
    x = as_float(tiles)
    assert x.shape == (2, 3, 4, 5) and x.dtype == torch.float32
    assert torch.equal(x[1, 2, 3, 4], tiles[1, 3, 4, 2].float() / 255)


def test_resolve_device_rejects_unknown_names() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu")


def test_available_cpus_follows_the_affinity_mask() -> None:
    import os

    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        assert available_cpus() == 1
    finally:
        os.sched_setaffinity(0, before)
    assert available_cpus() == len(before)


def test_the_cpus_follow_a_containers_cpu_quota_too(tmp_path) -> None:
    """docker run --cpus 1 on a 2-core host: 1 CPU of time, 2 threads took turns (9 % slower than 1)."""
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # cgroup v2: 1.5 CPUs
    assert cpu_quota(tmp_path, cgroup="") == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(tmp_path, cgroup="") is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")  # cgroup v1: 1 CPU
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_quota(tmp_path, cgroup="") == 1.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpu_quota(tmp_path, cgroup="") is None
    quota = cpu_quota()
    assert available_cpus() <= (len(os.sched_getaffinity(0)) if quota is None else max(1, math.ceil(quota)))
