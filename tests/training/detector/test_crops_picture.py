"""The real crops as a picture (training/detector/crops_picture.py and detector-score --crops --gallery)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.training.detector.conftest import crop_image, crop_stack
from training.cli import main
from training.detector.crops import CropResult
from training.detector.crops_picture import CANDIDATE, FOUND, render_crops
from training.detector.gallery import CELL_PX, COLUMNS, MISSED


def _has(picture: Image.Image, colour: tuple[int, int, int]) -> bool:
    return bool((np.asarray(picture) == colour).all(axis=-1).any())


def test_found_and_missed_crops_are_drawn_in_their_colours() -> None:
    results = [
        CropResult(page=1, found=True, best_score=0.9, calls=1, best_point=(66.0, 62.0)),
        CropResult(page=3, found=False, best_score=None, calls=0),
    ]
    picture = render_crops([crop_image((64, 64)), crop_image(None)], results, mpp=0.25, radius_um=7.5, threshold=0.5)
    assert picture.width == COLUMNS * CELL_PX
    assert _has(picture, FOUND) and _has(picture, MISSED) and _has(picture, CANDIDATE)
    nothing_near = render_crops([crop_image(None)], results[1:], mpp=0.25, radius_um=7.5, threshold=0.5)
    assert not _has(nothing_near, FOUND) and not _has(nothing_near, CANDIDATE)  # no cross without a candidate
    with pytest.raises(ValueError, match="2 crops for 1 results"):
        render_crops([crop_image(None), crop_image(None)], results[1:], mpp=0.25, radius_um=7.5, threshold=0.5)


def test_a_line_holds_eight_crops() -> None:
    results = [CropResult(page=k, found=False, best_score=0.1, calls=0) for k in range(1, 10)]
    two_lines = render_crops([crop_image(None)] * 9, results, mpp=0.25, radius_um=7.5, threshold=0.5)
    one_line = render_crops([crop_image(None)] * 8, results[:8], mpp=0.25, radius_um=7.5, threshold=0.5)
    assert two_lines.height > one_line.height and one_line.width == two_lines.width


def test_the_command_draws_the_crops_it_scored(
    untrained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = crop_stack(tmp_path / "crops.tiff", [crop_image((64, 64)), crop_image(None), crop_image((30, 90))])
    gallery = tmp_path / "crops.png"
    args = ["detector-score", "--model", str(untrained), "--crops", str(stack), "--pages", "1,3"]
    assert main([*args, "--gallery", str(gallery)]) == 0
    assert "gallery: " in capsys.readouterr().err
    with Image.open(gallery) as picture:
        assert picture.size[0] == COLUMNS * CELL_PX
    # --gallery needs something to draw: slides or crops, not real images alone
    assert main(["detector-score", "--model", str(untrained), "--real-images", str(stack), "--gallery", "x.png"]) == 1
    assert "--gallery draws the mistakes on --slides or the crops of --crops" in capsys.readouterr().err
    assert not Path("x.png").exists()
