"""The detector's mistakes as a picture (training/detector/gallery.py and detector-score --gallery)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import blob_image, write_pyramid_tiff
from tests.training.detector.conftest import detections_at
from training.cli import main
from training.datasets.annotations import SlideAnnotations
from training.detector.gallery import (
    CAPTION_PX,
    CELL_PX,
    COLUMNS,
    CROP_UM,
    FALSE_CALL,
    KEY_TEXT,
    MISSED,
    NONE_PX,
    mistakes,
    mistakes_key,
    render_gallery,
)

MPP = 0.25  # um per level-0 pixel: the 7.5 um radius is 30 px


def _truth(path: Path, figures: list[tuple[float, float]], domain: str = "C") -> SlideAnnotations:
    points = np.array(figures, dtype=np.float64).reshape(-1, 2)
    return SlideAnnotations("s", 800, 600, points, np.ones(len(points), dtype=np.int64), domain=domain, path=path)


def test_mistakes_are_unmatched_calls_and_figures_without_a_call(tmp_path: Path) -> None:
    slide = tmp_path / "slide.tiff"
    found = detections_at(
        # a hit (20 px = 5 um off), a false call far away, one below the threshold, one of another class
        [(100, 100), (500, 300), (700, 500), (300, 80)],
        [0.9, 0.8, 0.3, 0.95],
        [1, 1, 1, 2],
    )
    truth = _truth(slide, [(120, 100), (300, 100), (700, 520)])
    false_calls, missed = mistakes([found], [truth], threshold=0.5, radius_um=7.5)
    assert [(e.point, e.score, e.domain) for e in false_calls] == [((500.0, 300.0), 0.8, "C")]
    # (300, 100): no mitosis candidate near (the class-2 one does not count); (700, 520): one at 0.3, below 0.5
    assert [(e.point, e.score) for e in missed] == [((300.0, 100.0), None), ((700.0, 520.0), 0.3)]
    assert mistakes([found], [truth], threshold=0.2, radius_um=7.5)[1][0].point == (300.0, 100.0)


def test_false_calls_come_highest_score_first_across_slides(tmp_path: Path) -> None:
    a, b = detections_at([(100, 100)], [0.7], [1]), detections_at([(200, 200), (400, 400)], [0.6, 0.9], [1, 1])
    false_calls, missed = mistakes([a, b], [_truth(tmp_path / "a", []), _truth(tmp_path / "b", [])], 0.5, 7.5)
    assert [e.score for e in false_calls] == [0.9, 0.7, 0.6] and not missed


def test_the_gallery_draws_each_mistake_from_its_slide(tmp_path: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(800, 600, seed=3), mpp=MPP, tile=128)
    found = detections_at([(500, 300), (40, 30)], [0.8, 0.7], [1, 1])
    false_calls, missed = mistakes([found], [_truth(slide, [(200, 200)])], 0.5, 7.5)
    picture = render_gallery([("false calls", false_calls), ("missed", missed)], mpp=0.5, limit=1)
    assert picture.width == COLUMNS * CELL_PX
    pixels = np.asarray(picture)
    assert (pixels == FALSE_CALL).all(axis=-1).any() and (pixels == MISSED).all(axis=-1).any()
    # the first crop is the slide's own pixels round (500, 300): not blank
    assert pixels[40:100, 10:100].std() > 5


def test_the_gallery_has_a_key_and_no_empty_row_under_none(tmp_path: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(800, 600, seed=3), mpp=MPP, tile=128)
    found = detections_at([(500, 300)], [0.8], [1])
    false_calls, missed = mistakes([found], [_truth(slide, [(200, 200)], domain="D")], 0.5, 7.5)
    assert false_calls[0].threshold == 0.5 and false_calls[0].radius_um == 7.5  # judged at these
    both = render_gallery([("false calls", false_calls), ("missed", missed)], mpp=0.5)
    no_false_call = render_gallery([("false calls", []), ("missed", missed)], mpp=0.5)
    assert both.height - no_false_call.height == CELL_PX + CAPTION_PX - NONE_PX  # "none" takes one line
    texts = [text for _, text in mistakes_key(0.5, 0.5, 7.5, (CELL_PX - 4) / CROP_UM, "0.80 D s")]
    key = " ".join(texts)
    for said in ("10 um", "40 um square", "0.5 um/px", ">= 0.5", "within 7.5 um", "circle: 10 um across"):
        assert said in key, said
    assert "caption: score  scanner  slide" in key and "as in 0.80 D s" in key
    # the key is drawn under the crops: a scale bar of 10 um, at the crops' scale, then its text
    pixels = np.asarray(both)
    top = 2 * CAPTION_PX + 2 * (CELL_PX + CAPTION_PX)
    bar = [(pixels[y, 6 : 6 + 40] == KEY_TEXT).all(axis=-1).sum() for y in range(top, top + 40)]
    assert max(bar) == round(10 * (CELL_PX - 4) / CROP_UM) + 1
    assert (pixels[top:] == KEY_TEXT).all(axis=-1).sum() > 1000  # text, not only the bar


def test_detector_score_writes_the_gallery(synthetic_slide, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = synthetic_slide.files.slide.parent
    run = tmp_path / "run"
    assert main(["detector", "--smoke", "--train", str(folder), "--out", str(run)]) == 0
    gallery = tmp_path / "mistakes.png"
    model = str(run / "best.pt")
    args = ["detector-score", "--model", model, "--slides", str(folder), "--gallery", str(gallery)]
    assert main([*args, "--threshold", "0.05", "--gallery-size", "4"]) == 0
    assert "gallery: " in capsys.readouterr().err
    with Image.open(gallery) as picture:
        assert picture.format == "PNG" and picture.width == COLUMNS * CELL_PX
    assert main(["detector-score", "--model", model, "--real-images", str(gallery), "--gallery", str(gallery)]) == 1
    assert "--gallery draws the mistakes on --slides or the crops of --crops" in capsys.readouterr().err
    assert main([*args, "--gallery-size", "0"]) == 1
    assert "--gallery-size must be at least 1, got 0" in capsys.readouterr().err
