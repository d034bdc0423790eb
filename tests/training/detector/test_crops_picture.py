"""The real crops as a picture (training/detector/crops_picture.py and detector-score --crops --gallery)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.training.detector.conftest import crop_image, crop_stack
from training.cli import main
from training.detector.crops import CropResult
from training.detector.crops_picture import CANDIDATE, FOUND, crops_key, render_crops
from training.detector.gallery import CAPTION_PX, CELL_PX, COLUMNS, MISSED


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
    crops_only = nothing_near.crop((0, 0, nothing_near.width, CAPTION_PX + CELL_PX + CAPTION_PX))  # not the key
    assert not _has(crops_only, FOUND) and not _has(crops_only, CANDIDATE)  # no cross without a candidate
    with pytest.raises(ValueError, match="2 crops for 1 results"):
        render_crops([crop_image(None), crop_image(None)], results[1:], mpp=0.25, radius_um=7.5, threshold=0.5)


def test_a_line_holds_eight_crops() -> None:
    results = [CropResult(page=k, found=False, best_score=0.1, calls=0) for k in range(1, 10)]
    two_lines = render_crops([crop_image(None)] * 9, results, mpp=0.25, radius_um=7.5, threshold=0.5)
    one_line = render_crops([crop_image(None)] * 8, results[:8], mpp=0.25, radius_um=7.5, threshold=0.5)
    assert two_lines.height > one_line.height and one_line.width == two_lines.width


def test_the_key_says_what_the_circles_colours_cross_and_captions_are() -> None:
    key = crops_key({128}, 0.25, 7.5, 0.65, (CELL_PX - 4) / 32, "p1 0.90")
    symbols = [symbol[:2] for symbol, _ in key]
    assert symbols == [("bar", symbols[0][1]), ("circle", FOUND), ("circle", MISSED), ("cross", CANDIDATE)] + [
        ("none", symbols[-1][1])
    ]
    text = " ".join(line for _, line in key)
    for said in ("10 um.", "32 um wide at 0.25 um/px", "7.5 um matching radius", ">= 0.65", "best", "as in p1 0.90"):
        assert said in text, said
    results = [CropResult(page=k, found=False, best_score=0.1, calls=0) for k in (1, 2)]
    same = render_crops([crop_image(None)] * 2, results, mpp=0.25, radius_um=7.5, threshold=0.5)
    half = crop_image(None)[32:96, 32:96]
    mixed = render_crops([crop_image(None), half], results, mpp=0.25, radius_um=7.5, threshold=0.5)
    first_cell = (slice(CAPTION_PX, CAPTION_PX + CELL_PX), slice(0, CELL_PX))
    assert not _has(Image.fromarray(np.asarray(same)[first_cell]), (0, 0, 0))  # one scale: the key's bar only
    assert _has(Image.fromarray(np.asarray(mixed)[first_cell]), (0, 0, 0))  # scales differ: a bar in each crop
    assert "the bar in each crop's corner" in " ".join(t for _, t in crops_key({128, 64}, 0.25, 7.5, 0.5, None, ""))


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
