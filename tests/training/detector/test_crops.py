"""Scoring a detector on real crops and real images (training/detector/crops.py and detector-score's options)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from algorithm.errors import ConfigError
from algorithm.models import DetectorConfig
from tests.conftest import blob_image
from tests.training.detector.conftest import DarkestSpot, crop_image, crop_stack
from tests.unprivileged import error_line_of, unreadable
from training.cli import main
from training.detector.crops import (
    Detector,
    parse_pages,
    read_crop_stack,
    recall_interval,
    score_crops,
    score_real_images,
)


def test_a_crop_counts_when_a_call_lies_within_the_radius_of_its_centre(tmp_path: Path) -> None:
    # centre: found; 17 um from the centre: a call, not found; blank: nothing
    stack = crop_stack(tmp_path / "crops.tiff", [crop_image((64, 64)), crop_image((16, 16)), crop_image(None)])
    detector = Detector(DarkestSpot(), DetectorConfig(tile_size=64, mpp=0.5), None, 0.5, torch.device("cpu"))
    results = score_crops(stack, detector, mpp=0.25)
    assert [(r.page, r.found, r.calls) for r in results] == [(1, True, 1), (2, False, 1), (3, False, 0)]
    assert results[0].best_score is not None and results[0].best_score > 0.5
    assert results[1].best_score is None and results[2].best_score is None
    # the radius is in micrometres: at 0.5 um/px the same corner spot is 34 um away, at 0.1 um/px 6.8 um
    assert [r.found for r in score_crops(stack, detector, mpp=0.1)] == [True, True, False]


def test_pages_choose_which_crops_are_scored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = crop_stack(tmp_path / "crops.tiff", [crop_image((64, 64)), crop_image((16, 16)), crop_image(None)])
    detector = Detector(DarkestSpot(), DetectorConfig(tile_size=64, mpp=0.5), None, 0.5, torch.device("cpu"))
    assert [(r.page, r.found) for r in score_crops(stack, detector, mpp=0.25, pages=[1, 3])] == [(1, True), (3, False)]
    with pytest.raises(ConfigError, match=r"crops.tiff: pages \[4\] asked for, the stack has 3"):
        score_crops(stack, detector, mpp=0.25, pages=[4])


def test_parse_pages_reads_lists_and_ranges_and_rejects_the_rest() -> None:
    assert parse_pages("1,3,5-7") == [1, 3, 5, 6, 7]
    assert parse_pages(" 4 , 2,2 ") == [2, 4]
    for bad in ("0", "3-1", "a", "1,,2", "-2"):
        with pytest.raises(ConfigError, match="expected 1-based page numbers and ranges"):
            parse_pages(bad)
    with pytest.raises(ConfigError, match="the stack has 16 pages"):
        parse_pages("2,17", 16)


def test_real_images_give_calls_per_mm2_of_tissue(tmp_path: Path) -> None:
    image = blob_image(600, 400)
    image[195:205, 235:245] = (40, 20, 70)  # one dark spot in the tissue
    Image.fromarray(image).save(tmp_path / "he.png")
    detector = Detector(DarkestSpot(), DetectorConfig(tile_size=64, mpp=0.5), None, 0.7, torch.device("cpu"))
    (result,) = score_real_images([tmp_path / "he.png"], detector, mpp=0.5)
    # the blob: an ellipse of 0.25 x 0.3 of the image's sides as semi-axes, at 0.5 um/px
    blob_mm2 = np.pi * (0.25 * 600) * (0.3 * 400) * 0.5**2 / 1e6
    assert result.tissue_mm2 == pytest.approx(blob_mm2, rel=0.15)
    assert result.calls >= 1 and result.per_mm2 == pytest.approx(result.calls / result.tissue_mm2)


def test_the_crops_command_prints_a_table_and_writes_json(
    untrained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = crop_stack(tmp_path / "crops.tiff", [crop_image((64, 64)), crop_image((30, 90)), crop_image(None)])
    out = tmp_path / "report.json"
    assert main(["detector-score", "--model", str(untrained), "--crops", str(stack), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    crops = report["crops"]
    assert report["threshold"] == 0.5 and report["radius_um"] == 7.5
    assert [c["page"] for c in crops["per_crop"]] == [1, 2, 3] and crops["total"] == 3
    assert crops["found"] == sum(c["found"] for c in crops["per_crop"])
    assert f"recall: {crops['found']} of 3 real mitotic figures" in printed
    low, high = crops["recall_interval"]
    assert low <= crops["recall"] <= high and high - low > 0.4  # three crops say little
    assert len([line for line in printed.splitlines() if line.strip()[:1].isdigit()]) == 3  # a row per crop


def test_the_recall_interval_is_wilsons() -> None:
    assert recall_interval(7, 16) == pytest.approx([0.2310, 0.6682], abs=1e-4)
    assert recall_interval(16, 16)[1] == 1.0 and recall_interval(0, 16)[0] == 0.0
    assert recall_interval(12, 16)[0] > recall_interval(7, 16)[0]


def test_bad_crop_files_are_one_clear_error(
    untrained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "corrupt.tiff"
    corrupt.write_bytes(b"this is not a TIFF file at all")
    assert main(["detector-score", "--model", str(untrained), "--crops", str(corrupt)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {corrupt}: not a TIFF stack of RGB crops") and "\n" not in err
    assert main(["detector-score", "--model", str(untrained), "--crops", str(tmp_path / "missing.tiff")]) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing.tiff'}: no such file"
    grey = tmp_path / "grey.tiff"
    tifffile.imwrite(grey, np.zeros((2, 16, 16), np.uint8))
    assert main(["detector-score", "--model", str(untrained), "--crops", str(grey)]) == 1
    assert "grey.tiff: page 1 is not an RGB uint8 image" in capsys.readouterr().err
    assert main(["detector-score", "--model", str(untrained)]) == 1
    assert "give --slides folders, or --crops and/or --real-images" in capsys.readouterr().err
    stack = crop_stack(tmp_path / "crops.tiff", [crop_image((64, 64))])
    assert main(["detector-score", "--model", str(untrained), "--crops", str(stack), "--pages", "2"]) == 1
    assert capsys.readouterr().err.strip() == "error: pages '2': the stack has 1 pages"
    assert main(["detector-score", "--model", str(untrained), "--real-images", str(stack), "--pages", "1"]) == 1
    assert capsys.readouterr().err.strip() == "error: --pages needs --crops"


def test_the_real_crops_read_as_sixteen_rgb_pages(shared_data: Path) -> None:
    crops = read_crop_stack(shared_data / "mitosis" / "midog25-mitotic-figure-crops.tiff")
    assert len(crops) == 16 and all(c.shape == (128, 128, 3) and c.dtype == np.uint8 for c in crops)


def test_a_crop_records_where_its_best_candidate_is(tmp_path: Path) -> None:
    stack = crop_stack(tmp_path / "crops.tiff", [crop_image((70, 60)), crop_image(None)])
    detector = Detector(DarkestSpot(), DetectorConfig(tile_size=64, mpp=0.5), None, 0.5, torch.device("cpu"))
    spot, blank = score_crops(stack, detector, mpp=0.25)
    # on the spot (radius 6 px; the detector marks one of its darkest pixels, on its 0.5 um grid)
    assert spot.best_point is not None and np.hypot(spot.best_point[0] - 70, spot.best_point[1] - 60) <= 6 + 2
    assert blank.best_point is None and blank.as_dict()["best_point"] is None
    assert spot.as_dict()["best_point"] == [round(v, 1) for v in spot.best_point]


def test_a_crop_stack_it_may_not_read_is_named_as_such(tmp_path: Path) -> None:
    """Not "not a TIFF stack of RGB crops": the system refused, whatever the file holds."""
    path = tmp_path / "crops.tiff"
    tifffile.imwrite(path, np.zeros((2, 8, 8, 3), np.uint8), photometric="rgb")
    unreadable(path)
    line = error_line_of("from training.detector.crops import read_crop_stack", f"read_crop_stack(Path({str(path)!r}))")
    assert line == f"error: {path}: cannot be read: permission denied"
