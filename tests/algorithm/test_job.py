from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from algorithm.errors import ConfigError, SlideError
from algorithm.interface.tasks import MIDOG
from algorithm.job import JobOptions, run_job
from algorithm.models import DetectorConfig, build_detector, save_checkpoint
from algorithm.stain import get_normaliser
from tests.conftest import REPO, blob_image, write_pyramid_tiff


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised small detector with a Macenko stain target: the real loading path."""
    folder = tmp_path_factory.mktemp("model")
    config = DetectorConfig(tile_size=128, mpp=1.0)
    stain = get_normaliser("macenko").fit(blob_image(300, 200, seed=4)).params()
    save_checkpoint(folder / "detector.pt", "detector", config.to_dict(), build_detector(config),
                    extra={"stain": stain, "threshold": 0.3})
    return folder


def _points(path: Path) -> dict:
    return json.loads((path / "mitotic-figures.json").read_text())


def test_job_writes_a_valid_points_file(tmp_path: Path, model_dir: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "slide.tiff", blob_image(1200, 800), mpp=0.5, tile=128)
    found = run_job(JobOptions(input=slide, output=tmp_path / "out", task=MIDOG, model_dir=model_dir),
                    log=lambda _: None)
    result = _points(tmp_path / "out")
    assert result["type"] == "Multiple points" and result["version"] == {"major": 1, "minor": 0}
    assert len(result["points"]) == int((found.candidates.labels == 1).sum())
    width_mm, height_mm = 1200 * 0.5e-3, 800 * 0.5e-3
    for p in result["points"]:
        assert 0 <= p["point"][0] <= width_mm and 0 <= p["point"][1] <= height_mm and p["point"][2] == 0
        assert p["name"] == ("mitotic figure" if p["probability"] >= 0.3 else "non-mitotic figure")
    assert 0 < found.tiles < found.tiles_total


def test_job_is_deterministic(tmp_path: Path, model_dir: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "slide.tiff", blob_image(900, 600), mpp=0.5, tile=128)
    for out in ("a", "b"):
        run_job(JobOptions(input=slide, output=tmp_path / out, task=MIDOG, model_dir=model_dir), log=lambda _: None)
    assert (tmp_path / "a" / "mitotic-figures.json").read_bytes() == (tmp_path / "b" / "mitotic-figures.json").read_bytes()


def test_slide_without_tissue_gives_empty_points(tmp_path: Path, model_dir: Path) -> None:
    glass = write_pyramid_tiff(tmp_path / "glass.tiff", np.full((600, 800, 3), 244, np.uint8), mpp=0.5)
    found = run_job(JobOptions(input=glass, output=tmp_path / "out", task=MIDOG, model_dir=model_dir),
                    log=lambda _: None)
    assert found.tiles == 0
    assert _points(tmp_path / "out")["points"] == []


def test_corrupt_slide_writes_nothing(tmp_path: Path, model_dir: Path, shared_data: Path) -> None:
    with pytest.raises(SlideError, match=r"unreadable\.svs"):
        run_job(JobOptions(input=shared_data / "openslide" / "unreadable.svs", output=tmp_path / "out",
                           task=MIDOG, model_dir=model_dir), log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_missing_model_folder(tmp_path: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "slide.tiff", blob_image(300, 200), mpp=0.5)
    with pytest.raises(ConfigError, match=r"nowhere: model folder not found"):
        run_job(JobOptions(input=slide, output=tmp_path / "out", task=MIDOG, model_dir=tmp_path / "nowhere"),
                log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_command_line_job(tmp_path: Path, model_dir: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "slide.tiff", blob_image(600, 400), mpp=0.5, tile=128)
    result = subprocess.run(
        [sys.executable, "-m", "algorithm", "--input", str(slide), "--output", str(tmp_path / "out"),
         "--model-dir", str(model_dir), "--device", "cpu"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("algorithm ") and "device cpu" in lines[0] and "CUDA not found" in lines[0]
    assert lines[-1].startswith("slide.tiff: ") and "tiles with tissue" in lines[-1]
    assert (tmp_path / "out" / "mitotic-figures.json").exists()


def test_cuda_asked_for_but_absent_is_an_error(tmp_path: Path, model_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        run_job(JobOptions(input=tmp_path, output=tmp_path / "out", task=MIDOG, model_dir=model_dir, device="cuda"),
                log=lambda _: None)
