"""A slide's QC picture: its thumbnail with the job's results drawn on it, and a legend below.

Layers, bottom to top: the tumour heatmap (amber, more opaque where more probable), the nuclei
mask (blue) where the job produced one, the label task's patches where it ran (each picture pixel
washed once, in the colour of the most probable patch over it, viridis' dark purple 0 -> teal ->
yellow 1, and each patch framed in its exact colour; the tissue candidates that the blood, nuclei
and context filters dropped a faint grey), the tissue mask's outline (black), the heatmap's 0.5
contour (orange), the major axis (a white line cased in black, with end ticks), and a ring round
each detected mitotic figure, outside the evaluation's hit radius, coloured by its score from the
threshold (sky blue) to 1 (yellow). Colours: :mod:`algorithm.qc.colours`. The slide fills the
top-left of the picture at the thumbnail's scale (a strip cut into rows or columns:
:mod:`algorithm.qc.layout`), with a scale bar in its bottom-left corner; the legend
(:mod:`algorithm.qc.legend`) and the caption lines sit below it, the label task's call first
where it ran.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from algorithm.qc import colours
from algorithm.qc.colours import Colour
from algorithm.qc.layers import ASSUMED, MaskLayer, QcInput
from algorithm.qc.layout import Layout, wrapped
from algorithm.qc.legend import SWATCH_GAP, draw_swatch, legend_entries, place_entries
from algorithm.qc.marks import draw_axis, draw_notice, draw_ring
from algorithm.qc.patches import frame_patches, wash_patches
from algorithm.qc.scale_bar import draw_scale_bar

FIGURE_RADIUS_PX = 7  # the rings' smallest inner radius in picture pixels (a slide shrunk a lot)
FIGURE_RADIUS_UM = 7.5  # their inner radius on the slide: the evaluation's hit radius (detection.radius_mm)
OUTLINE_PX = 2  # the tissue outline's and the 0.5 contour's width
LEGEND_MIN_WIDTH = 640
FONT_SIZE = 14
NOTICE_FONT_SIZE = 20  # "no tissue found", on the slide
PAD = 8
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def picture_scale(qc: QcInput) -> tuple[float, float]:
    """Picture pixels per level-0 pixel, (x, y): the thumbnail's size over the slide's."""
    th, tw = qc.thumbnail.shape[:2]
    return tw / qc.dimensions[0], th / qc.dimensions[1]


def ring_radii(qc: QcInput) -> tuple[float, float]:
    """The figures' rings' inner radii (x, y) in picture pixels: :data:`FIGURE_RADIUS_UM` at the picture's
    scale, never under :data:`FIGURE_RADIUS_PX` (nor where the resolution is unknown)."""
    if qc.mpp is None:
        return float(FIGURE_RADIUS_PX), float(FIGURE_RADIUS_PX)
    scale = picture_scale(qc)
    rx, ry = (FIGURE_RADIUS_UM / m * s for m, s in zip(qc.mpp, scale, strict=True))
    return max(float(FIGURE_RADIUS_PX), rx), max(float(FIGURE_RADIUS_PX), ry)


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


def _outline(region: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The inner :data:`OUTLINE_PX` pixels of ``region``'s edge (none along the picture's border)."""
    return region & ~ndimage.binary_erosion(region, iterations=OUTLINE_PX, border_value=1)


def _blend(rgb: NDArray[np.float64], colour: Colour, alpha: NDArray[np.float64]) -> NDArray[np.float64]:
    a = alpha[..., None]
    return rgb * (1.0 - a) + np.asarray(colour, dtype=np.float64) * a


def label_font(size: int = FONT_SIZE) -> Font:
    """Pillow's default font at ``size`` (its fixed bitmap font where Pillow lacks FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def draw_slide(qc: QcInput) -> Image.Image:
    """The thumbnail with every layer drawn, at the thumbnail's size (no legend, no scale bar)."""
    th, tw = qc.thumbnail.shape[:2]
    size, scale = (tw, th), picture_scale(qc)
    rgb = qc.thumbnail[..., :3].astype(np.float64)
    tumour = None
    if qc.heatmap is not None and qc.heatmap.size:
        heat = _heatmap_on_picture(qc, size, scale)
        rgb = _blend(rgb, colours.HEATMAP, colours.HEATMAP_MAX_ALPHA * heat)
        tumour = heat >= 0.5
    if qc.nuclei is not None:
        nuclei = _mask_on_picture(qc.nuclei, size, scale).astype(np.float64)
        rgb = _blend(rgb, colours.NUCLEI, colours.NUCLEI_ALPHA * nuclei)
    if qc.patches is not None:
        wash_patches(rgb, qc.patches, scale)
    if qc.tissue is not None:
        tissue = _mask_on_picture(qc.tissue, size, scale)
        rgb[_outline(tissue)] = colours.TISSUE_OUTLINE
    if tumour is not None:
        rgb[_outline(tumour)] = colours.HEATMAP_CONTOUR
    image = Image.fromarray(np.round(rgb).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    if qc.patches is not None:
        frame_patches(draw, qc.patches, scale)
    if qc.axis_line_px is not None:
        draw_axis(draw, np.asarray(qc.axis_line_px, dtype=np.float64).reshape(2, 2) * np.asarray(scale))
    radii = ring_radii(qc)
    points = np.asarray(qc.figures_px, dtype=np.float64).reshape(-1, 2) * np.asarray(scale)
    tints = colours.score_colours(qc.scores, qc.score_floor())
    for i in np.argsort(np.asarray(qc.scores, dtype=np.float64), kind="stable"):  # the highest on top
        r, g, b = (int(c) for c in tints[i])
        draw_ring(draw, float(points[i, 0]), float(points[i, 1]), radii, (r, g, b))
    return image


def _notes(qc: QcInput, layout: Layout) -> list[str]:
    """The caption's lines on how the slide is drawn: enlarged, cut into rows or columns."""
    notes = []
    scale = min(picture_scale(qc))
    if scale >= 1.5:
        notes.append(f"drawn enlarged {scale:.3g}x (each slide pixel a square)")
    cut = layout.note()
    return [*notes, *([] if cut is None else [cut])]


def render_qc(qc: QcInput) -> Image.Image:
    """The QC picture: the slide with its layers (top-left, at the thumbnail's scale; a strip cut into rows or
    columns) and a scale bar, the legend and the caption below."""
    layout = wrapped(draw_slide(qc))
    slide = layout.image
    font = label_font()
    if qc.mpp is not None:
        um_per_px = qc.mpp[0] / picture_scale(qc)[0]
        draw_scale_bar(slide, um_per_px, layout.panels[0], font, "(assumed)" if qc.mpp_source == ASSUMED else "")
    if qc.tissue_found() is False:
        draw_notice(slide, "no tissue found", layout.panels[0], label_font(NOTICE_FONT_SIZE))
    line_h = FONT_SIZE + 6
    width = max(slide.width, LEGEND_MIN_WIDTH)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    ring_um = None if qc.mpp is None else ring_radii(qc)[0] / picture_scale(qc)[0] * qc.mpp[0]
    placed, rows = place_entries(legend_entries(qc, ring_um), width, PAD, measure, font)
    lines = [qc.name, *([] if qc.patches is None else [qc.patches.title()]), *qc.caption, *_notes(qc, layout)]
    title = [part for line in lines for part in _wrapped(line, width - 2 * PAD, measure, font)]
    height = slide.height + PAD + rows * line_h + len(title) * line_h + PAD
    picture = Image.new("RGB", (width, height), (255, 255, 255))
    picture.paste(slide, (0, 0))
    draw = ImageDraw.Draw(picture)
    top = slide.height + PAD
    floor = qc.score_floor()
    for key, text, x, r in placed:
        y = top + r * line_h
        used = draw_swatch(draw, key, x, y, line_h - 4, floor)
        draw.text((x + used + SWATCH_GAP, y), text, fill=(0, 0, 0), font=font)
    y = top + rows * line_h
    for i, text in enumerate(title):
        draw.text((PAD, y + i * line_h), text, fill=(0, 0, 0), font=font)
    return picture


def _wrapped(text: str, width: float, measure: ImageDraw.ImageDraw, font: Font) -> list[str]:
    """``text`` in lines no wider than ``width``, broken after "; " or ", " where it can, else at a space."""
    lines: list[str] = []
    while measure.textlength(text, font=font) > width:
        fits = [i + 1 for i, c in enumerate(text) if c == " " and measure.textlength(text[:i], font=font) <= width]
        breaks = [i for i in fits if text[i - 2] in ";,"] or fits
        if not breaks:
            break  # one word wider than the picture: left as it is
        lines.append(text[: breaks[-1]].rstrip())
        text = text[breaks[-1] :]
    return [*lines, text]
