"""A detector's mistakes as one picture: its highest-scoring false calls and the figures it missed.

``detector-score --slides ... --gallery mistakes.png`` draws, after scoring, a
grid of small crops read from the scored slides (at the detector's
resolution, as it saw them before stain normalisation): first row(s) the false
calls (a mitotic-figure call at or above the threshold with no true figure
within the matching radius), highest score first; then the missed figures (a
true figure with no call within the radius), each captioned with its score
(the best candidate of any score near it, "-" when none), scanner and slide.
What a count of false positives cannot say: whether they are lymphocytes,
imposters or stroma, and what the missed figures look like.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from scipy.spatial.distance import cdist

from algorithm.detection.slide import SlideDetections
from algorithm.qc.picture import label_font
from algorithm.slide import open_slide
from algorithm.slide.base import SlideReader
from training.datasets.annotations import MITOSIS, SlideAnnotations

CROP_UM = 40.0  # side of each crop: a figure (~10 um) and its neighbourhood
CELL_PX = 128  # crop side in the picture
CAPTION_PX = 30
COLUMNS = 8
FALSE_CALL, MISSED = (200, 30, 30), (30, 90, 200)


@dataclass(frozen=True)
class Example:
    """One mistake: where (level-0 pixels of ``slide``), its score (None: no candidate near), scanner."""

    slide: Path
    point: tuple[float, float]
    score: float | None
    domain: str


def mistakes(
    found: list[SlideDetections],
    truths: list[SlideAnnotations],
    threshold: float,
    radius_um: float,
) -> tuple[list[Example], list[Example]]:
    """The false calls (highest score first) and the missed figures (lowest best score first) of these slides."""
    false_calls: list[Example] = []
    missed: list[Example] = []
    for detections, truth in zip(found, truths, strict=True):
        c = detections.candidates
        mpp = np.asarray(detections.mpp, dtype=np.float64)
        figures = c.labels == MITOSIS
        points, scores = c.points[figures], c.scores[figures]
        near = cdist(truth.mitoses * mpp, points * mpp) <= radius_um  # (figures, candidates)
        domain = truth.domain or "-"
        for point, score, hit in zip(points, scores, near.any(axis=0), strict=True):
            if score >= threshold and not hit:
                false_calls.append(Example(truth.slide_path, (float(point[0]), float(point[1])), float(score), domain))
        best = np.max(np.where(near, scores, -np.inf), axis=1, initial=-np.inf)  # each figure's best candidate
        for point, score in zip(truth.mitoses, best, strict=True):
            if score < threshold:
                found_score = None if score == -np.inf else float(score)
                missed.append(Example(truth.slide_path, (float(point[0]), float(point[1])), found_score, domain))
    false_calls.sort(key=lambda e: (-(e.score or 0.0), e.slide.name, e.point))
    missed.sort(key=lambda e: (e.score if e.score is not None else -1.0, e.slide.name, e.point))
    return false_calls, missed


def render_gallery(rows: list[tuple[str, list[Example]]], mpp: float, limit: int = 16) -> Image.Image:
    """Each ``(title, examples)`` as a titled block of its first ``limit`` crops, ``COLUMNS`` to a line, each
    crop ``CROP_UM`` wide at ``mpp`` with a 10 um circle round its point and a caption: score, scanner, the
    slide name's last 6 characters."""
    font = label_font()
    cell = CELL_PX + CAPTION_PX
    heights = [CAPTION_PX + max(1, -(-min(len(examples), limit) // COLUMNS)) * cell for _, examples in rows]
    picture = Image.new("RGB", (COLUMNS * CELL_PX, sum(heights)), "white")
    draw = ImageDraw.Draw(picture)
    side_px = int(round(CROP_UM / mpp))
    r = int(round(CELL_PX * 5.0 / CROP_UM))  # 5 um in picture pixels
    with ExitStack() as stack:
        slides: dict[Path, SlideReader] = {}
        y = 0
        for (title, examples), colour, height in zip(rows, (FALSE_CALL, MISSED), heights, strict=True):
            shown = examples[:limit]
            draw.text((6, y + 8), f"{title}: {len(shown)} of {len(examples)}", fill=colour, font=font)
            if not shown:
                draw.text((6, y + CAPTION_PX + 8), "none", fill=(90, 90, 90), font=font)
            for i, example in enumerate(shown):
                if example.slide not in slides:
                    slides[example.slide] = stack.enter_context(open_slide(example.slide))
                x0, y0 = (i % COLUMNS) * CELL_PX, y + CAPTION_PX + (i // COLUMNS) * cell
                crop = Image.fromarray(_crop(slides[example.slide], example.point, side_px, mpp))
                picture.paste(crop.resize((CELL_PX - 4, CELL_PX - 4), Image.Resampling.LANCZOS), (x0 + 2, y0 + 2))
                cx, cy = x0 + CELL_PX // 2, y0 + CELL_PX // 2
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=2)
                score = "-" if example.score is None else f"{example.score:.2f}"
                caption = f"{score} {example.domain} {example.slide.stem[-6:]}"  # the slide's end: its seed
                draw.text((x0 + 4, y0 + CELL_PX + 4), caption, fill=colour, font=font)
            y += height
    return picture


def _crop(slide: SlideReader, point: tuple[float, float], side_px: int, mpp: float) -> NDArray[np.uint8]:
    """``side_px`` pixels at ``mpp`` centred on level-0 ``point`` (glass past the slide's edge)."""
    half = side_px * slide.downsample_for(mpp) / 2
    return slide.read_rect((int(round(point[0] - half)), int(round(point[1] - half))), (side_px, side_px), mpp)
