"""The label task's layer of the QC picture: its patches coloured by probability, its call in the caption."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from PIL import Image

from algorithm.interface.tasks import LABEL
from algorithm.job import JobOptions, JobResult, run_job
from algorithm.qc import PatchLayer, QcInput, render_qc
from algorithm.qc.colours import DROPPED_ALPHA, DROPPED_PATCH, PATCH_ALPHA, patch_colour
from algorithm.qc.job_view import job_view
from algorithm.qc.legend import legend_entries
from algorithm.qc.patches import patch_owners
from algorithm.qc.picture import draw_slide, picture_scale
from tests.algorithm.label_models import positive_label_slide

GLASS = 240


def blended(colour: tuple[int, int, int], alpha: float = PATCH_ALPHA, under: int = GLASS) -> NDArray[np.float64]:
    return under * (1 - alpha) + np.asarray(colour, dtype=np.float64) * alpha


def two_patches(dropped: bool = True) -> QcInput:
    """A 2000 x 1000 slide at 1/10 with a low- and a high-probability patch and a dropped one."""
    layer = PatchLayer(
        boxes=np.array([[200.0, 200.0, 300.0, 300.0], [600.0, 200.0, 300.0, 300.0]]),
        probabilities=np.array([0.05, 0.95]),
        dropped=np.array([[1000.0, 200.0, 300.0, 300.0]]) if dropped else np.zeros((0, 4)),
        likelihood=0.9,
        positive=True,
    )
    thumb = np.full((100, 200, 3), GLASS, np.uint8)
    return QcInput(name="slide.tiff", dimensions=(2000, 1000), thumbnail=thumb, patches=layer)


def test_patches_are_coloured_by_their_probability_and_the_dropped_ones_grey() -> None:
    qc = two_patches()
    slide = np.asarray(draw_slide(qc)).astype(int)
    low, high, grey = slide[35, 35], slide[35, 75], slide[35, 115]  # the patches' middles
    np.testing.assert_allclose(low, blended(patch_colour(0.05)), atol=1)
    np.testing.assert_allclose(high, blended(patch_colour(0.95)), atol=1)
    assert high[1] > low[1] + 60 and high.sum() > low.sum() + 100  # high: bright yellow-green; low: dark purple
    assert low[2] > low[1] and low[0] > low[1]  # low: purple (blue and red above green)
    assert tuple(slide[20, 60]) == patch_colour(0.95) and tuple(slide[49, 89]) == patch_colour(0.95)  # its frame
    assert tuple(slide[21, 61]) == patch_colour(0.95) and tuple(slide[22, 62]) != patch_colour(0.95)  # 2 px wide
    assert tuple(slide[20, 20]) == patch_colour(0.05)
    assert grey[0] == grey[1] == grey[2] < GLASS - 10  # a faint grey wash
    assert tuple(slide[20, 100]) == DROPPED_PATCH  # and a grey outline
    assert (slide[:18] == GLASS).all() and (slide[52:] == GLASS).all() and (slide[:, 131:] == GLASS).all()
    bare = np.asarray(draw_slide(replace(qc, patches=None)))
    assert (bare == GLASS).all()  # no label task, no layer


def test_the_legend_and_the_caption_say_what_the_layer_shows() -> None:
    qc = two_patches()
    entries = dict(legend_entries(qc))
    assert entries["patches"] == "patch probability 0-1 (2 patches)"
    assert entries["dropped"] == "tissue patches dropped by the filters (1)"
    without = dict(legend_entries(replace(qc, patches=None)))
    assert "patches" not in without and "dropped" not in without
    assert qc.patches is not None
    title = qc.patches.title()
    assert title == "slide label: positive, likelihood 0.9; 2 patches analysed, mean 0.500 (min 0.050, max 0.950)"
    negative = replace(qc.patches, likelihood=0.125, positive=False, probabilities=np.zeros(0), boxes=np.zeros((0, 4)))
    assert negative.title() == "slide label: negative, likelihood 0.125; 0 patches analysed"
    with_layer, bare = render_qc(qc), render_qc(replace(qc, patches=None))
    assert with_layer.width == bare.width and with_layer.height > bare.height  # the call's line under the name


def test_small_patches_are_filled_opaque_without_frames() -> None:
    layer = PatchLayer(boxes=np.array([[200.0, 200.0, 40.0, 40.0]]), probabilities=np.array([1.0]))
    qc = QcInput("s", (2000, 1000), np.full((100, 200, 3), GLASS, np.uint8), patches=layer)
    slide = np.asarray(draw_slide(qc)).astype(int)
    assert (slide[20:24, 20:24] == patch_colour(1.0)).all()  # no frame to carry its colour: the fill does
    assert (slide[:20] == GLASS).all() and (slide[24:] == GLASS).all()


def test_overlapping_patches_never_blend_into_a_colour_off_the_scale() -> None:
    # three patches: x 200-500 (p 0.2), x 350-650 (p 0.9) overlapping it by half, and x 355-655 (p 0.5)
    # almost on top of the second (the grid's last column flush with the edge); a dropped one under them all
    layer = PatchLayer(
        boxes=np.array([[200.0, 200.0, 300.0, 300.0], [350.0, 200.0, 300.0, 300.0], [355.0, 200.0, 300.0, 300.0]]),
        probabilities=np.array([0.2, 0.9, 0.5]),
        dropped=np.array([[100.0, 200.0, 700.0, 300.0]]),
    )
    qc = QcInput("s", (2000, 1000), np.full((100, 200, 3), GLASS, np.uint8), patches=layer)
    owners = patch_owners(layer, (200, 100), picture_scale(qc))
    assert owners[35, 30] == 0 and owners[35, 45] == 1 and owners[35, 62] == 1  # the most probable over each
    assert owners[35, 15] == 3 and owners[35, 75] == 3 and owners[35, 85] == -1  # the dropped one, then glass
    slide = np.asarray(draw_slide(qc)).astype(int)
    on_scale = [blended(patch_colour(p)) for p in layer.probabilities] + [blended(DROPPED_PATCH, DROPPED_ALPHA)]
    inside = slide[24:46, 12:78].reshape(-1, 3)  # within the frames' rows, across every patch
    frames = {patch_colour(p) for p in layer.probabilities} | {DROPPED_PATCH}
    for pixel in inside:  # every pixel is one patch's wash, or one patch's frame: never two washes stacked
        assert any(np.abs(pixel - c).max() <= 1 for c in on_scale) or tuple(pixel) in frames, pixel
    np.testing.assert_allclose(slide[35, 45], blended(patch_colour(0.9)), atol=1)  # the overlap: the higher one
    assert tuple(slide[20, 50]) == patch_colour(0.9)  # its frame on top of the others'


@pytest.fixture(scope="module")
def label_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[JobResult, Path]:
    """The label task with the test models on a small positive synthetic slide, and its output folder."""
    folder = tmp_path_factory.mktemp("label-job")
    slide = positive_label_slide(folder)
    before = torch.get_num_threads()
    try:
        options = JobOptions(input=slide, output=folder / "out", task=LABEL, model_dir=folder)
        result = run_job(options, log=lambda _: None)
    finally:
        torch.set_num_threads(before)
    return result, folder / "out"


def patch_means(picture: NDArray[np.uint8], layer: PatchLayer, scale: tuple[float, float]) -> NDArray[np.float64]:
    """Each analysed patch's mean colour on the picture, inside its outline."""
    means = []
    for x, y, w, h in layer.boxes:
        x0, y0 = round(x * scale[0]) + 2, round(y * scale[1]) + 2
        x1, y1 = round((x + w) * scale[0]) - 2, round((y + h) * scale[1]) - 2
        means.append(picture[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0))
    return np.array(means)


def test_a_label_jobs_picture_shows_its_patches(tmp_path: Path, label_job: tuple[JobResult, Path]) -> None:
    result, out = label_job
    assert result.label is not None
    qc = job_view(result, LABEL, out, side=512)
    layer = qc.patches
    assert layer is not None and layer.positive == result.label.prediction.positive
    assert len(layer.boxes) == len(layer.probabilities) == len(result.label.patches.selection.grid) > 0
    np.testing.assert_array_equal(layer.probabilities, result.label.patches.probabilities)
    assert layer.likelihood == result.label.prediction.likelihood
    assert job_view(replace(result, label=None), LABEL, out, side=512).patches is None  # the task did not run

    render_qc(qc).save(tmp_path / "with.png")
    render_qc(replace(qc, patches=None)).save(tmp_path / "without.png")
    drawn = np.asarray(Image.open(tmp_path / "with.png").convert("RGB")).astype(int)
    bare = np.asarray(Image.open(tmp_path / "without.png").convert("RGB")).astype(int)
    th, tw = qc.thumbnail.shape[:2]
    assert drawn.shape[1] == bare.shape[1] == max(tw, 640) and drawn.shape[0] > bare.shape[0] > th
    scale = picture_scale(qc)
    changed = np.abs(drawn[:th, :tw] - bare[:th, :tw]).sum(axis=-1) > 0
    inside = patch_means(changed[..., None].repeat(3, axis=-1).astype(np.uint8), layer, scale)[:, 0]
    assert (inside > 0.9).all()  # every analysed patch is drawn over (but where the tissue outline crosses it)
    covered = np.zeros((th, tw), bool)
    for x, y, w, h in np.vstack([layer.boxes, layer.dropped]):
        covered[round(y * scale[1]) : round((y + h) * scale[1]), round(x * scale[0]) : round((x + w) * scale[0])] = 1
    assert not changed[~covered].any()  # and nothing else

    # the colours follow the probabilities on the job's own patches: alternate them 0 / 1
    flipped = (np.arange(len(layer.boxes)) % 2).astype(np.float64)
    two_tone = np.asarray(draw_slide(replace(qc, patches=replace(layer, probabilities=flipped)))).astype(int)
    means = patch_means(two_tone.astype(np.uint8), layer, scale)
    assert len(flipped) >= 2
    assert means[flipped == 1, 1].min() > means[flipped == 0, 1].max() + 40  # yellow-green over purple
