"""Real crops blended into a real field (training/detector/in_field.py and detector-score --in-field)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from algorithm.models import DetectorConfig
from tests.training.detector.conftest import DarkestSpot, crop_image, crop_stack
from training.cli import main
from training.detector.crops import Detector
from training.detector.in_field import FIELD_DISC_UM, in_field, score_crops_in_field

PINK = (225, 190, 215)
DARK = np.array((40, 20, 70))  # crop_image's disc


def test_the_crops_middle_lands_in_the_fields_middle_at_the_fields_resolution() -> None:
    field = np.full((400, 600, 3), PINK, np.uint8)
    crop = crop_image((64, 64))  # 128 px, a dark disc of 6 px at the middle
    same = in_field(crop, field, crop_mpp=0.25, field_mpp=0.25)
    dark = np.argwhere((same == DARK).all(axis=-1))
    assert len(dark) and np.allclose(dark.mean(axis=0), (199.5, 299.5), atol=1.0)
    changed = np.argwhere((same != PINK).any(axis=-1))  # the disc: FIELD_DISC_UM at 0.25 um/px, soft edge
    assert np.abs(changed - (199.5, 299.5)).max() <= (FIELD_DISC_UM + 1.5) / 0.25
    assert (same[:100] == PINK).all()  # the rest of the field untouched
    half = in_field(crop, field, crop_mpp=0.25, field_mpp=0.5)  # the field at half the resolution: half the size
    dark_half = np.argwhere(half.astype(int).sum(axis=-1) < 300)  # resampled: near the disc's colour
    assert 0 < len(dark_half) < len(dark) / 2 and np.allclose(dark_half.mean(axis=0), (199.5, 299.5), atol=1.5)


def test_a_figure_in_the_field_is_found_and_the_middle_is_returned(tmp_path: Path) -> None:
    field = tmp_path / "field.png"
    Image.fromarray(np.full((300, 400, 3), PINK, np.uint8)).save(field)
    stack = crop_stack(tmp_path / "crops.tiff", [crop_image((64, 64)), crop_image(None)])
    detector = Detector(DarkestSpot(), DetectorConfig(tile_size=64, mpp=0.5), None, 0.5, torch.device("cpu"))
    results, middles, mpp = score_crops_in_field(stack, detector, field, field_mpp=0.25)
    assert mpp == 0.25 and [m.shape for m in middles] == [(128, 128, 3)] * 2
    figure, blank = results
    assert figure.found and figure.best_point is not None
    assert np.hypot(figure.best_point[0] - 64, figure.best_point[1] - 64) <= 8  # in the middle's own pixels
    assert not blank.found


def test_in_field_needs_crops_and_a_field(untrained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = crop_stack(tmp_path / "crops.tiff", [crop_image((64, 64))])
    field = tmp_path / "field.png"
    Image.fromarray(np.full((300, 400, 3), PINK, np.uint8)).save(field)
    base = ["detector-score", "--model", str(untrained)]
    assert main([*base, "--real-images", str(field), "--in-field", str(field)]) == 1
    assert capsys.readouterr().err.strip() == "error: --in-field needs --crops"
    assert main([*base, "--crops", str(stack), "--in-field", str(tmp_path / "none.png")]) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'none.png'}: no such file"
    huge = tmp_path / "huge.png"
    Image.new("RGB", (4097, 4096), PINK).save(huge)
    assert main([*base, "--crops", str(stack), "--in-field", str(huge)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {huge}: 4097 x 4096 px is too large for a field, which is read whole: give an image of at most "
        "4096 x 4096 px (e.g. a region cut from a slide)"
    )
    gallery = tmp_path / "in-field.png"
    assert main([*base, "--crops", str(stack), "--in-field", str(field), "--gallery", str(gallery)]) == 0
    assert "recall: " in capsys.readouterr().out and gallery.is_file()
