"""A slide's QC picture: its thumbnail with the job's results drawn on it, and a legend below.

Layers, bottom to top: the tumour heatmap (red-orange, more opaque where more probable),
the nuclei mask (blue) where the job produced one, the tissue mask's outline (black),
the major axis line (magenta), and a circle round each detected mitotic figure
coloured by its score (sky blue 0 -> green -> yellow 1). The slide fills the top-left
of the picture at the thumbnail's scale; the legend and the caption lines sit below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from algorithm.qc import colours
from algorithm.qc.colours import Colour

FIGURE_RADIUS_PX = 7  # circle radius in picture pixels (a figure is a few um: smaller than a pixel at this scale)
LEGEND_MIN_WIDTH = 640
FONT_SIZE = 14
PAD = 8

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class MaskLayer:
    """A boolean mask over the slide and how it maps onto level-0 pixels (level-0 pixels per mask pixel)."""

    mask: NDArray[np.bool_]
    downsample: tuple[float, float]


@dataclass(frozen=True)
class QcInput:
    """Everything one picture shows; coordinates are level-0 pixels, sizes ``(width, height)``."""

    name: str
    dimensions: tuple[int, int]  # the slide's level-0 size
    thumbnail: NDArray[np.uint8]  # the whole slide, RGB, at the picture's scale
    tissue: MaskLayer | None = None
    figures_px: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 2)))  # (n, 2) detected figures
    scores: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))  # (n,) their scores, 0..1
    heatmap: NDArray[np.float32] | None = None  # tumour probability, (H, W)
    heatmap_downsample: float = 1.0  # level-0 pixels per heatmap pixel
    axis_line_px: NDArray[np.float64] | None = None  # (2, 2) endpoints of the major axis
    nuclei: MaskLayer | None = None
    caption: Sequence[str] = ()  # lines under the legend (the slide's figures)


def picture_scale(qc: QcInput) -> tuple[float, float]:
    """Picture pixels per level-0 pixel, (x, y): the thumbnail's size over the slide's."""
    th, tw = qc.thumbnail.shape[:2]
    return tw / qc.dimensions[0], th / qc.dimensions[1]


def _centres(n: int, scale: float, downsample: float) -> NDArray[np.float64]:
    """The layer coordinates of the centres of ``n`` picture pixels along one axis."""
    return np.asarray((np.arange(n) + 0.5) / scale / downsample - 0.5, dtype=np.float64)


def _mask_on_picture(layer: MaskLayer, size: tuple[int, int], scale: tuple[float, float]) -> NDArray[np.bool_]:
    """The mask sampled at the picture's pixel centres (nearest mask pixel)."""
    h, w = layer.mask.shape
    cols = np.clip(np.round(_centres(size[0], scale[0], layer.downsample[0])), 0, w - 1).astype(int)
    rows = np.clip(np.round(_centres(size[1], scale[1], layer.downsample[1])), 0, h - 1).astype(int)
    return layer.mask[np.ix_(rows, cols)]


def _heatmap_on_picture(qc: QcInput, size: tuple[int, int], scale: tuple[float, float]) -> NDArray[np.float64]:
    """The heatmap interpolated (bilinear) at the picture's pixel centres."""
    assert qc.heatmap is not None
    rows = _centres(size[1], scale[1], qc.heatmap_downsample)
    cols = _centres(size[0], scale[0], qc.heatmap_downsample)
    grid = np.meshgrid(rows, cols, indexing="ij")
    values = ndimage.map_coordinates(qc.heatmap.astype(np.float64), grid, order=1, mode="nearest")
    return np.clip(values, 0.0, 1.0)


def _blend(rgb: NDArray[np.float64], colour: Colour, alpha: NDArray[np.float64]) -> NDArray[np.float64]:
    a = alpha[..., None]
    return rgb * (1.0 - a) + np.asarray(colour, dtype=np.float64) * a


def _font(size: int = FONT_SIZE) -> Font:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def draw_slide(qc: QcInput) -> Image.Image:
    """The thumbnail with every layer drawn, at the thumbnail's size (no legend)."""
    th, tw = qc.thumbnail.shape[:2]
    size, scale = (tw, th), picture_scale(qc)
    rgb = qc.thumbnail[..., :3].astype(np.float64)
    if qc.heatmap is not None and qc.heatmap.size:
        rgb = _blend(rgb, colours.HEATMAP, colours.HEATMAP_MAX_ALPHA * _heatmap_on_picture(qc, size, scale))
    if qc.nuclei is not None:
        nuclei = _mask_on_picture(qc.nuclei, size, scale).astype(np.float64)
        rgb = _blend(rgb, colours.NUCLEI, colours.NUCLEI_ALPHA * nuclei)
    if qc.tissue is not None:
        tissue = _mask_on_picture(qc.tissue, size, scale)
        outline = tissue & ~ndimage.binary_erosion(tissue, iterations=2, border_value=1)
        rgb[outline] = colours.TISSUE_OUTLINE
    image = Image.fromarray(np.round(rgb).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    if qc.axis_line_px is not None:
        (x0, y0), (x1, y1) = np.asarray(qc.axis_line_px, dtype=np.float64) * np.asarray(scale)
        draw.line([(x0, y0), (x1, y1)], fill=colours.AXIS_LINE, width=3)
    r = FIGURE_RADIUS_PX
    for (x, y), colour in zip(
        np.asarray(qc.figures_px, dtype=np.float64).reshape(-1, 2) * np.asarray(scale),
        colours.score_colours(qc.scores),
        strict=True,
    ):
        draw.ellipse([x - r, y - r, x + r, y + r], outline=tuple(int(c) for c in colour), width=2)
    return image


def _legend_entries(qc: QcInput) -> list[tuple[str, str]]:
    """(key, label) per legend entry, in drawing order; absent layers say so."""

    def label(text: str, present: bool) -> str:
        return text if present else f"{text} (none)"

    return [
        ("tissue", label("tissue outline", qc.tissue is not None)),
        ("heatmap", label("tumour heatmap 0-1", qc.heatmap is not None)),
        ("figures", f"mitotic figures ({len(qc.scores)}), score 0-1"),
        ("axis", label("major axis", qc.axis_line_px is not None)),
        ("nuclei", label("nuclei mask", qc.nuclei is not None)),
    ]


def _swatch(draw: ImageDraw.ImageDraw, key: str, x: int, y: int, h: int) -> int:
    """Draw the key's swatch at (x, y), ``h`` tall; its width."""
    if key == "tissue":
        draw.rectangle([x, y + 2, x + 24, y + h - 2], outline=colours.TISSUE_OUTLINE, width=2)
        return 26
    if key == "heatmap":
        for i in range(40):
            a = colours.HEATMAP_MAX_ALPHA * i / 39
            c = tuple(int(round(255 * (1 - a) + v * a)) for v in colours.HEATMAP)
            draw.line([(x + i, y + 1), (x + i, y + h - 1)], fill=c)
        return 40
    if key == "figures":
        for i, score in enumerate((0.0, 0.5, 1.0)):
            cx, cy, r = x + 8 + 18 * i, y + h // 2, 7
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=colours.score_colour(score), width=2)
        return 52
    if key == "axis":
        draw.line([(x, y + h - 3), (x + 26, y + 3)], fill=colours.AXIS_LINE, width=3)
        return 26
    draw.rectangle([x, y + 2, x + 24, y + h - 2], fill=colours.NUCLEI)
    return 26


def render_qc(qc: QcInput) -> Image.Image:
    """The QC picture: the slide with its layers (top-left, at the thumbnail's scale), legend and caption below."""
    slide = draw_slide(qc)
    font = _font()
    line_h = FONT_SIZE + 6
    width = max(slide.width, LEGEND_MIN_WIDTH)
    # lay the legend's entries out in rows that fit the width
    entries = _legend_entries(qc)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    placed: list[tuple[str, str, int, int]] = []
    x, row = PAD, 0
    for key, text in entries:
        item = 56 + int(measure.textlength(text, font=font)) + 2 * PAD
        if x > PAD and x + item > width - PAD:
            x, row = PAD, row + 1
        placed.append((key, text, x, row))
        x += item
    title = [qc.name, *qc.caption]
    height = slide.height + PAD + (row + 1) * line_h + len(title) * line_h + PAD
    picture = Image.new("RGB", (width, height), (255, 255, 255))
    picture.paste(slide, (0, 0))
    draw = ImageDraw.Draw(picture)
    top = slide.height + PAD
    for key, text, x, r in placed:
        y = top + r * line_h
        used = _swatch(draw, key, x, y, line_h - 4)
        draw.text((x + used + 6, y), text, fill=(0, 0, 0), font=font)
    y = top + (row + 1) * line_h
    for i, text in enumerate(title):
        draw.text((PAD, y + i * line_h), text, fill=(0, 0, 0), font=font)
    return picture
