"""A QC picture's layers from what a job already computed: its result, the outputs it wrote, a thumbnail.

The mitotic figures are the points the job wrote and named "mitotic figure" (what the
evaluation counts), converted back to level-0 pixels; the heatmap, the axis line, the
tissue mask and the label task's patches (the grid the patch classifier ran on, its
probabilities, the tissue candidates the filters dropped, the label model's call) are
the job's own. Only the thumbnail is read from the slide again (enlarged where the slide is
small, longer where it is a thin strip: :mod:`algorithm.qc.layout`), and whether the file states
its own resolution: a ``--mpp`` fallback is captioned as assumed.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from algorithm.errors import KitError
from algorithm.interface.annotations import ABOVE
from algorithm.interface.tasks import Task
from algorithm.qc.figures import Value, output_values, tiles_analysed
from algorithm.qc.layers import ASSUMED, FILE, GIVEN, MaskLayer, PatchLayer, QcInput
from algorithm.qc.layout import enlarged, enlargement, thumbnail_side
from algorithm.qc.picture import render_qc
from algorithm.slide import SlideReader, open_slide, units

if TYPE_CHECKING:
    from algorithm.job import JobResult
    from algorithm.slide_label import LabelAssessment

MPP_NOTES = {ASSUMED: " (assumed: the file states no resolution; --mpp)", GIVEN: " (given over the file's own)"}
THUMBNAIL_SIDE = 1024  # the picture's longer side, in pixels (a strip's may be longer: it is cut into rows)


def written_figures(output: Path, task: Task, mpp: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The points named "mitotic figure" in the job's written output: (n, 2) level-0 pixels and their scores."""
    socket = task.outputs.get("mitotic_figures")
    if socket is None:
        return np.zeros((0, 2)), np.zeros(0)
    path = output / socket.relative_path
    try:
        points = [p for p in json.loads(path.read_text())["points"] if p.get("name") == ABOVE]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KitError(f"{path}: cannot read the mitotic figures back ({exc})") from exc
    if not points:
        return np.zeros((0, 2)), np.zeros(0)
    mm = np.array([p["point"][:2] for p in points], dtype=np.float64)
    scores = np.array([p.get("probability", 1.0) for p in points], dtype=np.float64)
    return units.mm_to_pixels(mm, mpp), scores


def patch_layer(label: LabelAssessment) -> PatchLayer:
    """The label task's layer: its analysed patches (in the probabilities' order), the candidates with enough
    tissue that the blood, nuclei or context filters dropped (those dropped as glass are left out: the tissue
    outline shows them), the slide's likelihood and call."""
    selection = label.patches.selection
    kept = np.array([(t.x, t.y, t.extent[0], t.extent[1]) for t in selection.grid], dtype=np.float64)
    boxes = np.asarray(selection.boxes, dtype=np.float64).reshape(-1, 4)
    tissue = selection.fractions.get("tissue")
    dropped = np.zeros((0, 4))
    if tissue is not None and len(tissue) == len(boxes) == selection.candidates:
        dropped = boxes[~selection.kept & (np.asarray(tissue) >= selection.options.min_tissue)]
    return PatchLayer(
        boxes=kept.reshape(-1, 4),
        probabilities=np.asarray(label.patches.probabilities, dtype=np.float64),
        dropped=dropped,
        likelihood=float(label.prediction.likelihood),
        positive=bool(label.prediction.positive),
    )


def picture_thumbnail(slide: SlideReader, side: int) -> NDArray[np.uint8]:
    """The slide's thumbnail for its picture: longer side ``side`` (longer for a thin strip), a small slide's
    enlarged by a whole factor (:mod:`algorithm.qc.layout`)."""
    limit = thumbnail_side(slide.dimensions, side)
    thumbnail = slide.get_thumbnail(limit)
    th, tw = thumbnail.shape[:2]
    return enlarged(thumbnail, enlargement((tw, th), limit))


def mpp_source(slide: SlideReader, mpp: tuple[float, float]) -> str:
    """Where the job's resolution ``mpp`` came from: "file" (the file's own), "assumed" (the file, ``slide``
    opened without one, states none: the commands' ``--mpp`` fallback supplied it) or "given" (over the
    file's own)."""
    if not slide.has_mpp:
        return ASSUMED
    same = all(math.isclose(a, b, rel_tol=0.01) for a, b in zip(slide.mpp, mpp, strict=True))
    return FILE if same else GIVEN


def resolution_text(qc: QcInput) -> str:
    """The caption's resolution, saying where it came from unless the file stated it."""
    if qc.mpp is None:
        return "unknown um/px"
    return f"{qc.mpp[0]:.3f} um/px{MPP_NOTES.get(qc.mpp_source, '')}"


def job_view(
    result: JobResult,
    task: Task,
    output: Path,
    side: int = THUMBNAIL_SIDE,
    caption: Sequence[str] = (),
    threshold: float | None = None,
) -> QcInput:
    """The picture's input for a finished job whose outputs are in ``output`` (its resolution: the job's).
    ``threshold``: the figures' decision threshold (default: the one the result records, if any)."""
    if result.slide is None:
        raise KitError("the job result names no slide: nothing to draw a QC picture on")
    with open_slide(result.slide) as slide:  # as the file states it: no resolution given
        thumbnail = picture_thumbnail(slide, side)
        source = mpp_source(slide, result.mpp)
    figures, scores = written_figures(output, task, result.mpp)
    tissue = None if result.mask is None else MaskLayer(result.mask.mask, result.mask.downsample)
    heatmap = axis = None
    heatmap_downsample = 1.0
    if result.tumour is not None:
        heatmap = result.tumour.heatmap.heatmap.probability
        heatmap_downsample = result.tumour.heatmap.heatmap.downsample
        if result.tumour.prediction is not None and result.tumour.prediction.is_tumour:
            axis = np.asarray(result.tumour.axis_line_px, dtype=np.float64)
    nuclei = None
    if result.nuclei is not None:  # the nuclei task ran
        step = float(result.nuclei.downsample)
        nuclei = MaskLayer(result.nuclei.mask.astype(bool), (step, step))
    patches = None if result.label is None else patch_layer(result.label)  # the label task ran
    return QcInput(
        name=result.name,
        dimensions=result.dimensions,
        thumbnail=thumbnail,
        tissue=tissue,
        figures_px=figures,
        scores=scores,
        heatmap=heatmap,
        heatmap_downsample=heatmap_downsample,
        axis_line_px=axis,
        nuclei=nuclei,
        patches=patches,
        caption=caption,
        outputs=frozenset(task.outputs),
        mpp=result.mpp if all(m > 0 for m in result.mpp) else None,
        mpp_source=source,
        threshold=result.threshold if threshold is None else threshold,
    )


def job_picture(
    result: JobResult,
    task: Task,
    output: Path,
    side: int = THUMBNAIL_SIDE,
    values: dict[str, Value] | None = None,
    threshold: float | None = None,
) -> bytes:
    """A finished job's QC picture as PNG bytes, its caption the slide's size and resolution, the tiles its
    models ran on, its time and each output's figure (:mod:`algorithm.qc.figures`): what ``python -m algorithm
    --qc`` and the cohort's ``--qc`` write. ``values``: the outputs' figures when the caller has read them
    already (the cohort's row), else read here; ``threshold``: the figures' threshold (default: the one the
    result records, if any)."""
    if values is None:
        values = output_values(output, task, result)
    qc = job_view(result, task, output, side, threshold=threshold)
    caption = [
        f"{result.dimensions[0]} x {result.dimensions[1]} px at {resolution_text(qc)}; "
        f"{tiles_analysed(result)} tiles in {result.seconds:.1f} s",
        "; ".join(f"{k} {_text(v)}" for k, v in values.items()),
    ]
    data = io.BytesIO()
    render_qc(replace(qc, caption=caption)).save(data, format="PNG")
    return data.getvalue()


def _text(value: Value) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
