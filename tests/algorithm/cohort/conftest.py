"""Small synthetic slides for the cohort tests (the bundled models find their mitotic figures)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def make_slides(folder: Path, seeds: list[int], width: int = 1024, height: int = 768) -> list[Path]:
    """Synthetic slides ``synth-<seed>.tiff`` in ``folder`` (truth files kept aside, in ``folder/truth``)."""
    from training.synth import SynthConfig, generate_slide

    folder.mkdir(parents=True, exist_ok=True)
    truth = folder / "truth"
    slides = []
    for seed in seeds:
        config = SynthConfig(seed=seed, width=width, height=height, mitoses=4, imposters=4, scanner="D")
        result = generate_slide(config, truth)
        slides.append(folder / result.files.slide.name)
        shutil.move(result.files.slide, slides[-1])
    return slides


def single_job(slide: Path, output: Path, task: str = "midog") -> None:
    """``python -m algorithm --input SLIDE --output DIR``: the container's job, the reference for a cohort."""
    result = subprocess.run(
        [sys.executable, "-m", "algorithm", "--input", str(slide), "--output", str(output), "--task", task],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def cohort(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m algorithm cohort ARGS`` (2 Ray workers unless ARGS say)."""
    return subprocess.run(
        [sys.executable, "-m", "algorithm", "cohort", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def cohort_slides(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three small synthetic slides in one folder."""
    return make_slides(tmp_path_factory.mktemp("cohort-slides"), [31, 32, 33])
