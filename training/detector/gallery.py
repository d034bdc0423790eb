"""A detector's mistakes as one picture: its highest-scoring false calls and the figures it missed.

``detector-score --slides ... --gallery mistakes.png`` draws, after scoring, a
grid of small crops read from the scored slides (at the detector's
resolution, as it saw them before stain normalisation): first row(s) the false
calls (a mitotic-figure call at or above the threshold with no true figure
within the matching radius), highest score first; then the missed figures (a
true figure with no call within the radius), each captioned with its score
(the best candidate of any score near it, "-" when none), scanner and slide.
A key under the crops says what each caption field, colour and circle is, the
threshold and matching radius, the crops' size, with a scale bar.
What a count of false positives cannot say: whether they are lymphocytes,
imposters or stroma, and what the missed figures look like.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from scipy.spatial.distance import cdist

from algorithm.detection.slide import SlideDetections
from algorithm.qc.picture import label_font
from algorithm.slide import open_slide
from algorithm.slide.base import SlideReader
from training.datasets.annotations import MITOSIS, SlideAnnotations

CROP_UM = 40.0  # side of each crop: a figure (~10 um) and its neighbourhood
CIRCLE_UM = 10.0  # diameter of the circle round each point: about a figure's size
CELL_PX = 128  # crop side in the picture
CAPTION_PX = 30
NONE_PX = 28  # the line saying "none" under an empty row's title
COLUMNS = 8
FALSE_CALL, MISSED = (200, 30, 30), (30, 90, 200)
KEY_LINE_PX, KEY_TEXT = 22, (60, 60, 60)
SYMBOL_PX = 44  # the key's column of symbols (circle, cross, scale bar)
SCALE_BARS_UM = (20.0, 10.0, 5.0, 2.0, 1.0)  # the longest that fits the symbols' column is drawn

Symbol = tuple[Literal["circle", "cross", "bar", "none"], tuple[int, int, int], float]  # kind, colour, size px
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class Example:
    """One mistake: where (level-0 pixels of ``slide``), its score (None: no candidate near), scanner."""

    slide: Path
    point: tuple[float, float]
    score: float | None
    domain: str
    threshold: float | None = None  # the threshold and matching radius it was judged a mistake at
    radius_um: float | None = None


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
                xy = (float(point[0]), float(point[1]))
                false_calls.append(Example(truth.slide_path, xy, float(score), domain, threshold, radius_um))
        best = np.max(np.where(near, scores, -np.inf), axis=1, initial=-np.inf)  # each figure's best candidate
        for point, score in zip(truth.mitoses, best, strict=True):
            if score < threshold:
                found_score = None if score == -np.inf else float(score)
                xy = (float(point[0]), float(point[1]))
                missed.append(Example(truth.slide_path, xy, found_score, domain, threshold, radius_um))
    false_calls.sort(key=lambda e: (-(e.score or 0.0), e.slide.name, e.point))
    missed.sort(key=lambda e: (e.score if e.score is not None else -1.0, e.slide.name, e.point))
    return false_calls, missed


def render_gallery(
    rows: list[tuple[str, list[Example]]],
    mpp: float,
    limit: int = 16,
    threshold: float | None = None,
    radius_um: float | None = None,
) -> Image.Image:
    """Each ``(title, examples)`` as a titled block of its first ``limit`` crops, ``COLUMNS`` to a line, each
    crop ``CROP_UM`` wide at ``mpp`` with a ``CIRCLE_UM`` circle round its point and a caption: score, scanner,
    the slide name's last 6 characters; an empty block is one "none" line. Under them, the key (``threshold``
    and ``radius_um``: the examples' own where not given)."""
    font = label_font()
    cell = CELL_PX + CAPTION_PX
    lines = [-(-min(len(examples), limit) // COLUMNS) for _, examples in rows]
    heights = [CAPTION_PX + (n * cell if n else NONE_PX) for n in lines]
    examples = [e for _, row in rows for e in row]
    threshold = threshold if threshold is not None else next((e.threshold for e in examples), None)
    radius_um = radius_um if radius_um is not None else next((e.radius_um for e in examples), None)
    px_per_um = (CELL_PX - 4) / CROP_UM
    key = mistakes_key(mpp, threshold, radius_um, px_per_um, _caption(examples[0]) if examples else "")
    key_top = sum(heights)
    picture = Image.new("RGB", (COLUMNS * CELL_PX, key_top + key_height(key, font)), "white")
    draw = ImageDraw.Draw(picture)
    side_px = int(round(CROP_UM / mpp))
    r = int(round(px_per_um * CIRCLE_UM / 2))
    with ExitStack() as stack:
        slides: dict[Path, SlideReader] = {}
        y = 0
        for (title, row), colour, height in zip(rows, (FALSE_CALL, MISSED), heights, strict=True):
            shown = row[:limit]
            draw.text((6, y + 8), f"{title}: {len(shown)} of {len(row)}", fill=colour, font=font)
            if not shown:
                draw.text((6, y + CAPTION_PX + 4), "none", fill=(90, 90, 90), font=font)
            for i, example in enumerate(shown):
                if example.slide not in slides:
                    slides[example.slide] = stack.enter_context(open_slide(example.slide))
                x0, y0 = (i % COLUMNS) * CELL_PX, y + CAPTION_PX + (i // COLUMNS) * cell
                crop = Image.fromarray(_crop(slides[example.slide], example.point, side_px, mpp))
                picture.paste(crop.resize((CELL_PX - 4, CELL_PX - 4), Image.Resampling.LANCZOS), (x0 + 2, y0 + 2))
                cx, cy = x0 + CELL_PX // 2, y0 + CELL_PX // 2
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=2)
                draw.text((x0 + 4, y0 + CELL_PX + 4), _caption(example), fill=colour, font=font)
            y += height
    draw_key(draw, key_top, key, font)
    return picture


def _caption(example: Example) -> str:
    """A crop's caption: score, scanner, the slide name's last 6 characters (a synthetic slide's seed)."""
    score = "-" if example.score is None else f"{example.score:.2f}"
    return f"{score} {example.domain} {example.slide.stem[-6:]}"


def mistakes_key(
    mpp: float, threshold: float | None, radius_um: float | None, px_per_um: float, first: str
) -> list[tuple[Symbol, str]]:
    """The mistakes sheet's key: what the crops, circles, colours and captions (``first``: one of them) are."""
    at = f" >= {threshold:g}" if threshold is not None else " at the threshold"
    within = f"within {radius_um:g} um" if radius_um is not None else "within the matching radius"
    circle = CIRCLE_UM / 2 * px_per_um
    bar = scale_bar_um(px_per_um)
    return [
        (
            ("bar", KEY_TEXT, bar * px_per_um),
            f"{bar:g} um. Each crop: {CROP_UM:g} um square "
            f"read at {mpp:g} um/px (as the detector saw it, before stain normalisation), centred on the point",
        ),
        (("circle", FALSE_CALL, circle), f"false call: a mitotic-figure call scoring{at} with no true figure {within}"),
        (("circle", MISSED, circle), f"missed figure: a true figure with no mitotic-figure call{at} {within}"),
        (("none", KEY_TEXT, 0), f"circle: {CIRCLE_UM:g} um across (a figure's size), round the call or the figure"),
        (
            ("none", KEY_TEXT, 0),
            "caption: score  scanner  slide (its name's last 6 characters)"
            + (f", as in {first}" if first else "")
            + f"; a missed figure's score is that of its best candidate {within}, of any score (- for none)",
        ),
    ]


def scale_bar_um(px_per_um: float) -> float:
    """The scale bar's length in um at ``px_per_um``: the longest of :data:`SCALE_BARS_UM` that fits the key."""
    return next((um for um in SCALE_BARS_UM if um * px_per_um <= SYMBOL_PX), SCALE_BARS_UM[-1])


def _wrapped(draw: ImageDraw.ImageDraw, text: str, font: Font, width: float) -> list[str]:
    """``text`` in lines no wider than ``width`` pixels, broken between words."""
    lines = [""]
    for word in text.split(" "):
        joined = f"{lines[-1]} {word}" if lines[-1] else word
        if lines[-1] and draw.textlength(joined, font=font) > width:
            lines.append(word)
        else:
            lines[-1] = joined
    return lines


def _key_lines(key: Sequence[tuple[Symbol, str]], font: Font) -> list[tuple[Symbol | None, str]]:
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = COLUMNS * CELL_PX - SYMBOL_PX - 12
    return [
        (symbol if i == 0 else None, line)
        for symbol, text in key
        for i, line in enumerate(_wrapped(draw, text, font, width))
    ]


def key_height(key: Sequence[tuple[Symbol, str]], font: Font) -> int:
    """The height :func:`draw_key` takes for ``key``."""
    return 12 + KEY_LINE_PX * len(_key_lines(key, font)) + 6


def draw_key(draw: ImageDraw.ImageDraw, top: int, key: Sequence[tuple[Symbol, str]], font: Font) -> None:
    """The key below ``top``: a rule, then each entry's symbol (a circle of the given radius, a cross, a scale bar
    of the given length, in pixels) and its text, wrapped to the sheet's width."""
    draw.line((0, top + 4, COLUMNS * CELL_PX, top + 4), fill=(200, 200, 200), width=1)
    for n, (symbol, line) in enumerate(_key_lines(key, font)):
        y = top + 12 + n * KEY_LINE_PX
        cx, cy = 6 + SYMBOL_PX / 2, y + KEY_LINE_PX / 2
        if symbol is not None:
            kind, colour, size = symbol
            if kind == "circle":
                r = min(size, KEY_LINE_PX / 2 - 1)
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=2)
            elif kind == "cross":
                draw.line((cx - 5, cy - 5, cx + 5, cy + 5), fill=colour, width=2)
                draw.line((cx - 5, cy + 5, cx + 5, cy - 5), fill=colour, width=2)
            elif kind == "bar":
                draw.rectangle((6, cy - 2, 6 + size, cy + 2), fill=colour)
        draw.text((12 + SYMBOL_PX, y + 3), line, fill=KEY_TEXT, font=font)


def _crop(slide: SlideReader, point: tuple[float, float], side_px: int, mpp: float) -> NDArray[np.uint8]:
    """``side_px`` pixels at ``mpp`` centred on level-0 ``point`` (glass past the slide's edge)."""
    half = side_px * slide.downsample_for(mpp) / 2
    return slide.read_rect((int(round(point[0] - half)), int(round(point[1] - half))), (side_px, side_px), mpp)
