"""The cohort on an existing Ray cluster: a real head started with ``ray start --head``, stopped after."""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.algorithm.cohort.conftest import cohort, files_under, single_job

START_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _processes_naming(text: str) -> list[int]:
    """The processes whose command line holds ``text`` (this head's own temp folder: only what it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture()
def ray_head(tmp_path: Path) -> Iterator[str]:
    """``ray start --head --block`` on a free port with 2 CPUs, in its own session; its address.

    Teardown: SIGTERM to the session ``ray start`` leads (it stops what it started), then any process
    still naming this head's temp folder, by id; never ``ray stop``, which would stop every Ray here.
    """
    temp = tempfile.mkdtemp(prefix="kit-ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    port = _free_port()
    log = (tmp_path / "ray-head.log").open("wb")
    head = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "ray"),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--num-cpus=2",
            "--num-gpus=0",
            "--object-store-memory=100000000",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    try:
        deadline = time.monotonic() + START_S
        while not _listening(port):
            assert head.poll() is None, (tmp_path / "ray-head.log").read_text()
            assert time.monotonic() < deadline, "ray start --head did not listen in time"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # what did not stop: the session ray start leads
        head.wait()
        for pid in _processes_naming(temp):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def test_the_cohort_runs_on_a_ray_cluster_started_with_ray_start(
    ray_head: str, cohort_slides: list[Path], tmp_path: Path
) -> None:
    folder = tmp_path / "slides"
    folder.mkdir()
    for slide in cohort_slides[:2]:
        (folder / slide.name).symlink_to(slide)
    out = tmp_path / "out"
    result = cohort("--input", str(folder), "--output", str(out), "--address", ray_head, "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert f"Ray cluster at {ray_head} (2 CPUs, 0 GPUs)" in result.stdout
    with (out / "cohort.csv").open(newline="") as file:
        assert [row["status"] for row in csv.DictReader(file)] == ["done", "done"]
    single_job(cohort_slides[0], tmp_path / "single")
    assert files_under(out / cohort_slides[0].stem / "output") == files_under(tmp_path / "single")
