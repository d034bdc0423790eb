from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from algorithm.cohort.layout import QC_FILE
from algorithm.cohort.slides import CohortSlide
from algorithm.cohort.worker import SlideWorker, WorkerSettings
from algorithm.interface.tasks import MIDOG
from algorithm.qc import MaskLayer, QcInput, render_qc
from algorithm.qc.colours import score_colour
from algorithm.qc.job_view import written_figures
from algorithm.qc.picture import FIGURE_RADIUS_PX, _legend_entries, _wrapped, draw_slide, label_font
from algorithm.slide import open_slide


def circle_pixels(rgb: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Pixels in the circles' colours: saturated and green-bright (H&E, glass and the heatmap are not)."""
    x = rgb.astype(int)
    return (x[..., 1] >= 150) & (x.max(axis=-1) - x.min(axis=-1) >= 100)


def ring_share(mask: NDArray[np.bool_], centre: tuple[float, float], radius: float, band: float = 3.0) -> float:
    """The pixels ``mask`` marks within ``band`` of a circle of ``radius`` round ``centre``, over the count
    of a drawn circle's (2 px wide): about 1 for a circle there, even a few pixels off centre; 0 for none."""
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    ring = np.abs(np.hypot(xx - centre[0], yy - centre[1]) - radius) <= band
    return float(mask[ring].sum()) / (2 * np.pi * radius * 2)


@pytest.mark.usefixtures("_torch_threads")
def test_the_circles_land_on_the_truths_mitotic_figures(tmp_path: Path) -> None:
    from training.synth import SynthConfig, generate_slide

    config = SynthConfig(seed=41, width=2048, height=1536, mitoses=12, imposters=8, scanner="D")
    truth = generate_slide(config, tmp_path / "slide").truth
    slide = tmp_path / "slide" / "synth-000041.tiff"
    worker = SlideWorker(WorkerSettings(task=MIDOG, output=tmp_path / "out", qc=True, qc_side=1024))
    row = worker.process(CohortSlide(slide, "s"))
    assert row.status == "done", row.error
    picture = np.asarray(Image.open(tmp_path / "out" / "s" / QC_FILE).convert("RGB"))
    with open_slide(slide) as reader:
        th, tw = reader.get_thumbnail(1024).shape[:2]
    scale = np.array([tw / config.width, th / config.height])
    circles = circle_pixels(picture[:th, :tw])  # the slide's part of the picture (the legend is below)
    figures, _ = written_figures(tmp_path / "out" / "s" / "output", MIDOG, (config.mpp, config.mpp))
    assert len(figures) == row.values["mitotic_figures"] and len(figures) >= 8
    for x, y in figures * scale:  # every figure the job wrote has its circle, where it is
        assert ring_share(circles, (x, y), FIGURE_RADIUS_PX) > 0.7
    mitoses = np.array([[m["x"], m["y"]] for m in truth["mitoses"]]) * scale
    found = [ring_share(circles, (x, y), FIGURE_RADIUS_PX) > 0.5 for x, y in mitoses]
    assert sum(found) >= 0.75 * len(mitoses)  # the truth's figures are circled (the detector's recall)
    yy, xx = np.nonzero(circles)
    nearest = np.min(np.hypot(xx[:, None] - mitoses[None, :, 0], yy[:, None] - mitoses[None, :, 1]), axis=1)
    assert np.mean(nearest <= FIGURE_RADIUS_PX + 4) >= 0.8  # and the circles are (nearly all) on them


def test_every_layer_is_drawn_where_it_belongs_and_the_legend_says_so() -> None:
    thumb = np.full((100, 200, 3), 240, np.uint8)  # a 2000 x 1000 slide at 1/10
    tissue = np.zeros((50, 100), bool)
    tissue[10:40, 10:60] = True  # level-0 x 200-1200, y 200-800 at downsample 20
    nuclei = np.zeros((100, 200), bool)
    nuclei[80:90, 150:160] = True
    heat = np.zeros((10, 20), np.float32)
    heat[0:3, 15:20] = 1.0  # level-0 x 1500-2000, y 0-300 at downsample 100
    qc = QcInput(
        name="slide.tiff",
        dimensions=(2000, 1000),
        thumbnail=thumb,
        tissue=MaskLayer(tissue, (20.0, 20.0)),
        figures_px=np.array([[500.0, 500.0]]),
        scores=np.array([1.0]),
        heatmap=heat,
        heatmap_downsample=100.0,
        axis_line_px=np.array([[300.0, 300.0], [1100.0, 700.0]]),
        nuclei=MaskLayer(nuclei, (10.0, 10.0)),
        caption=["a caption line"],
    )
    slide = np.asarray(draw_slide(qc))
    assert slide.shape == (100, 200, 3)
    assert tuple(slide[50 - FIGURE_RADIUS_PX, 50]) == score_colour(1.0)  # the circle's top, round (50, 50)
    assert slide[5, 180, 1] < 150 and slide[5, 180, 0] > 240  # heatmap: red-orange over the glass
    assert tuple(slide[50, 100]) == (240, 240, 240)  # nothing drawn on plain glass
    assert slide[85, 155, 2] > slide[85, 155, 0] + 50  # nuclei: blue
    assert tuple(slide[20, 30]) == (20, 20, 20)  # the tissue outline, at its top edge (y 200 level-0)
    assert tuple(slide[40, 50]) == (255, 0, 255)  # the axis line crosses level-0 (500, 400)
    picture = render_qc(qc)
    assert picture.width >= 200 and picture.height > 100 + 3 * 14  # legend and caption below
    every = [text for _, text in _legend_entries(qc)]
    assert every == [
        "tissue outline",
        "tumour heatmap 0-1",
        "mitotic figures (1), score 0-1",
        "major axis",
        "nuclei mask",
    ]
    # a job's picture lists its task's layers only, an empty one as such
    nuclei_job = replace(qc, outputs=frozenset({"nuclei_mask"}))
    assert [text for _, text in _legend_entries(nuclei_job)] == ["tissue outline", "nuclei mask"]
    normal = replace(qc, axis_line_px=None, outputs=frozenset({"tumour_heatmap", "tumour_major_axis_line"}))
    assert [text for _, text in _legend_entries(normal)] == [
        "tissue outline",
        "tumour heatmap 0-1",
        "major axis (none)",
    ]
    bare = render_qc(QcInput(name="glass.tiff", dimensions=(2000, 1000), thumbnail=thumb))
    assert np.array_equal(np.asarray(bare)[:100, :200], thumb)  # without layers, the thumbnail as it is


def test_a_long_caption_wraps_to_the_pictures_width() -> None:
    font = label_font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    caption = "; ".join(f"figure_{i} {i / 7:.4g}" for i in range(30))
    lines = _wrapped(caption, 300, measure, font)
    assert len(lines) > 1 and all(measure.textlength(line, font=font) <= 300 for line in lines)
    assert all(line.endswith(";") for line in lines[:-1])  # broken between the figures, not inside one
    assert " ".join(lines) == caption
    assert _wrapped("short", 300, measure, font) == ["short"]
    thumb = np.full((100, 200, 3), 240, np.uint8)
    one = render_qc(QcInput(name="s.tiff", dimensions=(2000, 1000), thumbnail=thumb, caption=["short"]))
    long = render_qc(QcInput(name="s.tiff", dimensions=(2000, 1000), thumbnail=thumb, caption=[caption]))
    assert long.width == one.width and long.height > one.height  # more lines, not a wider picture
