from __future__ import annotations

import io
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
from algorithm.qc import MaskLayer, QcInput, colours, render_qc
from algorithm.qc.colours import score_colour
from algorithm.qc.job_view import written_figures
from algorithm.qc.legend import legend_entries
from algorithm.qc.marks import RING_BAND_PX
from algorithm.qc.picture import FIGURE_RADIUS_PX, FIGURE_RADIUS_UM, _wrapped, draw_slide, label_font, ring_radii
from algorithm.slide import open_slide

GLASS = 240


def circle_pixels(rgb: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Pixels in the circles' colours: saturated and green-bright (H&E, glass and the heatmap are not)."""
    x = rgb.astype(int)
    return (x[..., 1] >= 150) & (x.max(axis=-1) - x.min(axis=-1) >= 100)


def ring_share(mask: NDArray[np.bool_], centre: tuple[float, float], radius: float, band: float = 3.0) -> float:
    """The pixels ``mask`` marks within ``band`` of a circle of ``radius`` round ``centre``, over the count
    of a drawn ring's colour band (2 px wide): about 1 for a ring there, even a few pixels off centre; 0 for none."""
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    ring = np.abs(np.hypot(xx - centre[0], yy - centre[1]) - radius) <= band
    return float(mask[ring].sum()) / (2 * np.pi * radius * RING_BAND_PX)


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
    # the rings' colour band: 1 px outside the evaluation's hit radius at the picture's scale
    radius = max(FIGURE_RADIUS_PX, FIGURE_RADIUS_UM / config.mpp * scale[0]) + 1 + RING_BAND_PX / 2
    assert radius > FIGURE_RADIUS_PX + 2
    figures, _ = written_figures(tmp_path / "out" / "s" / "output", MIDOG, (config.mpp, config.mpp))
    assert len(figures) == row.values["mitotic_figures"] and len(figures) >= 8
    for x, y in figures * scale:  # every figure the job wrote has its ring, where it is
        assert ring_share(circles, (x, y), radius) > 0.7
    mitoses = np.array([[m["x"], m["y"]] for m in truth["mitoses"]]) * scale
    found = [ring_share(circles, (x, y), radius) > 0.5 for x, y in mitoses]
    assert sum(found) >= 0.75 * len(mitoses)  # the truth's figures are circled (the detector's recall)
    yy, xx = np.nonzero(circles)
    nearest = np.min(np.hypot(xx[:, None] - mitoses[None, :, 0], yy[:, None] - mitoses[None, :, 1]), axis=1)
    assert np.mean(nearest <= radius + 4) >= 0.8  # and the rings are (nearly all) round them


def every_layer(**changes: object) -> QcInput:
    """A 2000 x 1000 slide at 1/10 with every layer (see the test below), with ``changes``."""
    thumb = np.full((100, 200, 3), GLASS, np.uint8)
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
        threshold=0.65,
    )
    return replace(qc, **changes)  # type: ignore[arg-type]


def test_every_layer_is_drawn_where_it_belongs_and_the_legend_says_so() -> None:
    qc = every_layer()
    slide = np.asarray(draw_slide(qc))
    assert slide.shape == (100, 200, 3)
    r = FIGURE_RADIUS_PX  # no resolution: the smallest ring, its colour band 1 px outside r
    assert tuple(slide[50 - r - 2, 50]) == score_colour(1.0)  # the ring's top, round (50, 50)
    assert tuple(slide[50 - r - 4, 50]) == colours.RING_CASING == tuple(slide[50 - r - 1, 50])  # cased in black
    assert (slide[50 - r : 50 + r + 1, 50] == GLASS).all()  # the ring leaves the figure itself untouched
    assert slide[5, 180, 2] < 150 and slide[5, 180, 0] > 240  # heatmap: amber over the glass
    assert tuple(slide[29, 180]) == colours.HEATMAP_CONTOUR == tuple(slide[15, 150])  # its 0.5 contour, inside
    assert tuple(slide[50, 100]) == (GLASS,) * 3  # nothing drawn on plain glass
    assert slide[85, 155, 2] > slide[85, 155, 0] + 50  # nuclei: blue
    assert tuple(slide[20, 30]) == (20, 20, 20)  # the tissue outline, at its top edge (y 200 level-0)
    assert tuple(slide[60, 90]) == colours.AXIS_LINE  # the axis line crosses level-0 (900, 600): its white core
    assert tuple(slide[58, 90]) == colours.AXIS_CASING == tuple(slide[62, 90])  # cased in black
    picture = render_qc(qc)
    assert picture.width >= 200 and picture.height > 100 + 3 * 14  # legend and caption below
    every = [text for _, text in legend_entries(qc)]
    assert every == [
        "tissue outline",
        "tumour heatmap 0-1 (max 1.00)",
        "tumour >= 0.5 outline",
        "mitotic figures (1), score 0.65-1 (threshold 0.65)",
        "major axis",
        "nuclei mask",
    ]
    # a job's picture lists its task's layers only, an empty one as such
    nuclei_job = replace(qc, outputs=frozenset({"nuclei_mask"}))
    assert [text for _, text in legend_entries(nuclei_job)] == ["tissue outline", "nuclei mask"]
    normal = replace(qc, axis_line_px=None, outputs=frozenset({"tumour_heatmap", "tumour_major_axis_line"}))
    assert [text for _, text in legend_entries(normal)] == [
        "tissue outline",
        "tumour heatmap 0-1 (max 1.00)",
        "tumour >= 0.5 outline",
        "major axis (none)",
    ]
    bare = render_qc(QcInput(name="glass.tiff", dimensions=(2000, 1000), thumbnail=qc.thumbnail))
    assert np.array_equal(np.asarray(bare)[:100, :200], qc.thumbnail)  # without layers, the thumbnail as it is


def test_empty_layers_say_none_and_no_tissue_is_said_on_the_picture() -> None:
    nothing = np.zeros((50, 100), bool)
    qc = every_layer(
        tissue=MaskLayer(nothing, (20.0, 20.0)),
        heatmap=np.zeros((10, 20), np.float32),
        nuclei=MaskLayer(np.zeros((100, 200), bool), (10.0, 10.0)),
        figures_px=np.zeros((0, 2)),
        scores=np.zeros(0),
        axis_line_px=None,
    )
    assert [text for _, text in legend_entries(qc)] == [
        "tissue outline (none: no tissue found)",
        "tumour heatmap (all 0: nothing to draw)",  # drawn, but all 0: not the same as not drawn
        "tumour >= 0.5 outline (none)",
        "mitotic figures (none), threshold 0.65",
        "major axis (none)",
        "nuclei mask (none)",
    ]
    assert (np.asarray(draw_slide(qc)) == GLASS).all()  # nothing to draw
    not_drawn = replace(qc, heatmap=None)
    assert dict(legend_entries(not_drawn))["heatmap"] == "tumour heatmap (none)"
    picture = np.asarray(render_qc(qc))[:100, :200].astype(int)
    notice = picture[40:60, 60:140]  # the picture's middle: "no tissue found" in a box
    assert (notice < 100).all(axis=-1).any() and (notice > GLASS).all(axis=-1).any()  # dark text, light box
    tissue = replace(qc, tissue=every_layer().tissue)
    drawn = np.asarray(render_qc(tissue))[:100, :200]
    assert np.array_equal(drawn, np.asarray(draw_slide(tissue)))  # no notice where there is tissue


def test_rings_lie_outside_the_figure_at_the_pictures_scale() -> None:
    # a 1000 x 1000 slide at 0.25 um/px drawn at 1/2: the hit radius, 7.5 um, is 30 slide px, 15 picture px
    thumb = np.full((500, 500, 3), GLASS, np.uint8)
    yy, xx = np.mgrid[0:500, 0:500]
    chromatin = np.hypot(xx - 250, yy - 250) <= 10  # a figure 10 um across: 5 um = 10 picture px
    thumb[chromatin] = (60, 30, 90)
    qc = QcInput("crop", (1000, 1000), thumb, figures_px=np.array([[500.0, 500.0]]), scores=np.array([0.9]))
    qc = replace(qc, mpp=(0.25, 0.25), threshold=0.65)
    assert ring_radii(qc) == (15.0, 15.0)
    slide = np.asarray(draw_slide(qc))
    drawn = np.any(slide != thumb, axis=-1)
    distance = np.hypot(xx - 250, yy - 250)[drawn]
    assert distance.min() >= 14.5 and distance.max() <= 15 + 2 + RING_BAND_PX + 1  # a ring outside 15 px
    assert not (drawn & chromatin).any()  # none of it on the figure
    small = replace(qc, thumbnail=thumb[::5, ::5].copy())  # at 1/10 the hit radius is 3 px: the ring keeps 7
    assert ring_radii(small) == (float(FIGURE_RADIUS_PX),) * 2
    unknown = replace(qc, mpp=None)
    assert ring_radii(unknown) == (float(FIGURE_RADIUS_PX),) * 2


def test_figures_are_coloured_over_the_scores_drawn_and_the_threshold_is_stated() -> None:
    qc = every_layer(scores=np.array([0.65]))
    slide = np.asarray(draw_slide(qc))
    r = FIGURE_RADIUS_PX
    assert tuple(slide[50 - r - 2, 50]) == colours.SCORE_STOPS[0][1]  # the threshold: the scale's first colour
    assert score_colour(0.65, 0.65) == colours.SCORE_STOPS[0][1]
    assert score_colour(1.0, 0.65) == colours.SCORE_STOPS[-1][1]
    assert score_colour(0.825, 0.65) == colours.SCORE_STOPS[1][1]  # halfway from the threshold to 1
    assert dict(legend_entries(qc))["figures"] == "mitotic figures (1), score 0.65-1 (threshold 0.65)"
    at_scale = dict(legend_entries(qc, ring_um=7.5))["figures"]
    assert at_scale == "mitotic figures (1), score 0.65-1 (threshold 0.65), ring radius 7.5 um"
    unrecorded = replace(qc, threshold=None, scores=np.array([0.734, 0.9]), figures_px=np.array([[500.0] * 2] * 2))
    assert unrecorded.score_floor() == 0.73  # the lowest drawn, where the threshold is not known
    assert dict(legend_entries(unrecorded))["figures"] == "mitotic figures (2), score 0.73-1 (threshold not recorded)"


def test_the_heatmap_outlines_what_the_tumour_percentage_counts() -> None:
    heat = np.zeros((10, 20), np.float32)
    heat[2:8, 2:10] = 0.8  # level-0 x 200-1000, y 200-800 at downsample 100: picture x 20-100, y 20-80
    qc = every_layer(heatmap=heat, tissue=None, nuclei=None, axis_line_px=None, figures_px=np.zeros((0, 2)))
    slide = np.asarray(draw_slide(replace(qc, scores=np.zeros(0)))).astype(int)
    contour = np.all(slide == colours.HEATMAP_CONTOUR, axis=-1)
    assert contour[50, 22] and contour[50, 97] and contour[22, 60] and contour[77, 60]  # its edges, inside
    assert not contour[30:70, 30:90].any() and not contour[:10].any()  # and nowhere else
    inside = slide[50, 60]
    assert inside[0] > inside[2] + 80 and inside[1] > inside[2] + 40  # amber, not eosin pink (blue over green)
    faint = np.asarray(draw_slide(replace(qc, heatmap=heat * 0.5, scores=np.zeros(0))))  # 0.4: washed, not outlined
    assert not np.all(faint == colours.HEATMAP_CONTOUR, axis=-1).any()


def test_the_same_input_gives_the_same_bytes() -> None:
    qc = every_layer(mpp=(0.5, 0.5))
    pictures = []
    for _ in range(2):
        data = io.BytesIO()
        render_qc(qc).save(data, format="PNG")
        pictures.append(data.getvalue())
    assert pictures[0] == pictures[1]


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
