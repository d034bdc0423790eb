"""docker/export-space.sh: an export is refused up front when a disk lacks the room.

Docker itself is not started here (tests/ run without an engine; CI's container
steps run the real export). A stand-in `docker` answers the two questions the
script asks: the image's size and the engine's folder.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "docker" / "export-space.sh"
HUGE = 10**18  # bytes: more than any disk has free


def _check(tmp_path: Path, size: int, root: str | None) -> subprocess.CompletedProcess[str]:
    docker = tmp_path / "docker"
    info = f'echo "{root}"' if root else "exit 1"
    docker.write_text(f'#!/usr/bin/env bash\ncase "$1" in image) echo {size} ;; info) {info} ;; *) exit 3 ;; esac\n')
    docker.chmod(0o755)
    out = tmp_path / "export"
    out.mkdir(exist_ok=True)
    env = {**os.environ, "DOCKER": str(docker)}
    return subprocess.run(
        ["bash", str(SCRIPT), "kit-algorithm:test", str(out / "algorithm.tar.gz")],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )


def _disk(path: str) -> str:
    return subprocess.run(["df", "-Pk", path], capture_output=True, text=True).stdout.splitlines()[1].split()[0]


def test_room_enough_passes_silently(tmp_path):
    run = _check(tmp_path, 1000, str(tmp_path))
    assert run.returncode == 0 and run.stderr == "", run.stderr


def test_one_disk_needs_the_unpacked_copy_and_the_archive(tmp_path):
    run = _check(tmp_path, HUGE, str(tmp_path))
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert f"Docker's folder {tmp_path} are on one disk" in lines[0]
    assert "1700000000.0 GB there" in lines[0]  # the image plus 70 % of it
    assert f"{tmp_path}/tmp" in lines[0] and "docker image prune" in lines[0]


def test_without_a_visible_engine_folder_only_the_archive_is_checked(tmp_path):
    assert _check(tmp_path, 1000, None).returncode == 0
    run = _check(tmp_path, HUGE, None)
    assert run.returncode == 1
    assert "the archive of kit-algorithm:test needs about 700000000.0 GB" in run.stderr
    assert "Docker's folder" not in run.stderr


def test_the_engine_folder_on_another_disk_is_checked_on_its_own(tmp_path):
    other = "/dev/shm"
    if not os.path.isdir(other) or _disk(other) == _disk(str(tmp_path)):
        pytest.skip("no second file system to stand in for Docker's folder")
    run = _check(tmp_path, HUGE, other)
    assert run.returncode == 1
    assert f"Docker's folder {other} has" in run.stderr and "before it is compressed" in run.stderr


def test_usage(tmp_path):
    run = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "usage: docker/export-space.sh IMAGE FILE" in run.stderr
