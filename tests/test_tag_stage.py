"""docker/tag-stage.sh: a build's install stage tagged from the build's own arguments.

Docker is not started here; a stand-in `docker` records the arguments it is given (CI's container steps run
the real builds, whose stages it tags)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tag(tmp_path: Path, *args: str, fails: bool = False) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    docker = tmp_path / "docker"
    docker.write_text(
        '#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$(dirname "$0")/args"\n'
        + ('echo "failed to reach build target" >&2; exit 1\n' if fails else "")
    )
    docker.chmod(0o755)
    run = subprocess.run(
        ["bash", str(REPO / "docker" / "tag-stage.sh"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER": str(docker)},
        timeout=30,
    )
    return run, (tmp_path / "args").read_text().splitlines()


@pytest.mark.parametrize(
    "tag,stage_tag", [("kit-algorithm:ci", "kit-algorithm:ci-venv"), ("kit-algorithm", "kit-algorithm:venv")]
)
def test_the_stage_is_built_with_the_builds_arguments_under_its_own_tag(tmp_path: Path, tag: str, stage_tag: str):
    run, args = _tag(tmp_path, "venv", tag, "build", "--platform", "linux/amd64", "--tag", tag, "--no-cache", "ctx")
    assert run.returncode == 0 and run.stdout.strip() == stage_tag
    assert args == ["build", "--target", "venv", "--platform", "linux/amd64", "--tag", stage_tag, "--no-cache", "ctx"]


def test_a_failed_build_says_why_and_fails(tmp_path: Path) -> None:
    run, _ = _tag(tmp_path, "venv", "kit:ci", "build", "--tag", "kit:ci", "ctx", fails=True)
    assert run.returncode == 1 and "failed to reach build target" in run.stderr and run.stdout == ""
