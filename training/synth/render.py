"""Slide pixels as a pure function of (config, region): concentrations, then colour.

``render_concentrations`` gives the per-pixel haematoxylin and eosin
concentrations (scanner-independent); ``render_region`` turns them into RGB
with Beer-Lambert, ``I = I0 * exp(-(gain * C) @ M)``, and the scanner's optics
(Gaussian blur, rendered with a margin so tiles stay seamless).

With ``SynthConfig.haemoglobin`` above 0 the red cells also hold haemoglobin, a third
"stain" of their own colour (:data:`HAEMOGLOBIN_OD`: it absorbs blue and green, hardly
red) whose concentration is the red cells' eosin times ``haemoglobin`` times
:data:`HAEMOGLOBIN_PER_EOSIN`: the concentrations get a third channel and the red cells
turn from eosin magenta to the cherry red of real H&E blood. Nothing else changes: at 0
the arithmetic is that of before, and pixels without red cells are the same with any value.

Coordinates follow OpenSlide's ``read_region``: ``(x, y)`` is the level-0
top-left corner, ``width`` x ``height`` the output size in pixels at
``downsample``; output pixel (r, c) covers level-0
``[x + c*d, x + (c+1)*d) x [y + r*d, y + (r+1)*d)`` and is sampled at its centre.
Lower pyramid levels are rendered directly at their downsample: textures finer
than a pixel fade to their mean and cells become their expected density.
``render_region_with_nuclei`` also gives, from the same pass, the level-0
mask of the nuclei it drew (the truth for nuclei segmentation).
"""

from __future__ import annotations

import numpy as np

from training.synth.cells import regular_cells
from training.synth.config import SynthConfig
from training.synth.confounders import Confounders, confounders, draw_confounders, mark_nuclei
from training.synth.drawing import HAEMOGLOBIN, MAX_CELL_DOWNSAMPLE, Canvas, draw_cells, draw_nuclei_mask, mean_field
from training.synth.layout import GridSampler, build_layout, fields
from training.synth.noise import derive_seed
from training.synth.scanners import Scanner, get_scanner
from training.synth.specials import Specials, specials
from training.synth.texture import base_concentrations

# How far (um) beyond a region regular cells are checked against mitoses/imposters.
_SPECIAL_MARGIN_UM = 40.0

# Haemoglobin's optical-density vector (R, G, B; unit), the same under every scanner (it is the
# tissue's own pigment, not a stain a lab applies): it absorbs blue (the flank of its Soret band)
# and green (its Q bands) strongly and red hardly at all.
HAEMOGLOBIN_OD = (0.0401, 0.6217, 0.7822)
# Haemoglobin concentration per unit of a red cell's eosin at SynthConfig.haemoglobin 1. With it the
# median pixel of a dense bleed reads (182, 52, 60) RGB on glass and (170, 46, 55) on tumour under
# scanner A, (207, 43, 61) and (196, 37, 58) under C (eosin only, under A: (190, 98, 130) and
# (179, 83, 118)); real H&E blood is about (190, 35, 45). The kit's blood filter
# (algorithm.tissue.blood_mask) marks 60-85 % of a dense bleed's level-0 pixels (the gaps between
# the cells, their pale centres and the nuclei under them are not red enough) and all of it at 4 um/px.
HAEMOGLOBIN_PER_EOSIN = 0.9


def _check_region(width: int, height: int, downsample: float) -> None:
    if int(width) <= 0 or int(height) <= 0:
        raise ValueError(f"region size must be positive, got {width}x{height}")
    if not downsample > 0:
        raise ValueError(f"downsample must be positive, got {downsample}")


# The cells one region's render drew: regular cells per kind, the specials and the confounders
# (None: none drawn).
Drawn = tuple[dict[str, dict[str, np.ndarray]], Specials, Confounders] | None


def render_concentrations(
    config: SynthConfig, x: float, y: float, width: int, height: int, downsample: float = 1.0
) -> np.ndarray:
    """Haematoxylin (channel 0) and eosin (channel 1) concentrations, float32 (height, width, 2); with
    ``config.haemoglobin`` above 0, (height, width, 3): channel 2 the red cells' haemoglobin."""
    return _concentrations(config, x, y, width, height, downsample)[0]


def _concentrations(
    config: SynthConfig, x: float, y: float, width: int, height: int, downsample: float
) -> tuple[np.ndarray, Drawn]:
    """:func:`render_concentrations` and the cells it drew (the nuclei mask draws the same ones)."""
    _check_region(width, height, downsample)
    d = float(downsample)
    layout = build_layout(config)
    haemoglobin = float(config.haemoglobin) > 0.0
    out = np.zeros((height, width, 3 if haemoglobin else 2), dtype=np.float32)
    if not layout.may_have_content(x, y, x + width * d, y + height * d):
        return out, None
    s = GridSampler(x + (np.arange(width) + 0.5) * d, y + (np.arange(height) + 0.5) * d, d)
    f = fields(layout, s, lymph=d > MAX_CELL_DOWNSAMPLE)
    if not (np.any(f.tissue > 0) or np.any(f.bleed > 0)):
        return out, None
    h, e = base_concentrations(layout, s, f)
    drawn: Drawn = None
    if d <= MAX_CELL_DOWNSAMPLE:
        x1, y1 = x + width * d, y + height * d
        m = layout.px(_SPECIAL_MARGIN_UM)
        sp_all = specials(config)
        cf_all = confounders(config)
        canvas = Canvas(x, y, width, height, d, haemoglobin)
        cells = regular_cells(
            layout, x, y, x1, y1, sp_all.near(x - m, y - m, x1 + m, y1 + m), cf_all.near(x - m, y - m, x1 + m, y1 + m)
        )
        drawn = (cells, sp_all.near(x, y, x1, y1), cf_all.near(x, y, x1, y1))
        draw_cells(canvas, drawn[0], drawn[1])
        draw_confounders(canvas, drawn[2])
        ch = canvas.result()
    else:
        ch = mean_field(layout, f, d, haemoglobin)
    # Two value noises on unrelated lattices: granular chromatin without lattice-aligned blocks.
    chrom = np.float32(0.5) * (
        s.fbm(derive_seed(layout.seed, "chromatin"), layout.px(1.1), 1)
        + s.fbm(derive_seed(layout.seed, "chromatin-2"), layout.px(1.63), 1)
    )
    chrom = np.float32(0.45) + np.float32(1.1) * np.clip(
        np.float32(0.5) + (chrom - np.float32(0.5)) * np.float32(3.5), 0.0, 1.0
    )
    cover = np.clip(ch["cover"], 0.0, 1.0)
    out[..., 0] = h * (np.float32(1.0) - cover) + ch["h_tex"] * chrom + ch["h_flat"]
    out[..., 1] = e * (np.float32(1.0) - np.float32(0.8) * cover) + ch["e_add"]
    if haemoglobin:
        out[..., 2] = ch[HAEMOGLOBIN] * np.float32(float(config.haemoglobin) * HAEMOGLOBIN_PER_EOSIN)
    return out, drawn


def concentrations_to_intensity(conc: np.ndarray, scanner: Scanner) -> np.ndarray:
    """Beer-Lambert: float32 RGB intensities (0-255 scale) of concentrations (..., 2), or (..., 3) with haemoglobin."""
    planes = _intensity_planes(conc[..., 0], conc[..., 1], scanner, _haemoglobin(conc))
    return np.stack(planes, axis=-1)


def _haemoglobin(conc: np.ndarray) -> np.ndarray | None:
    """The haemoglobin channel of concentrations, None when they have none."""
    return np.ascontiguousarray(conc[..., 2]) if conc.shape[-1] > 2 else None


def _intensity_planes(h: np.ndarray, e: np.ndarray, scanner: Scanner, hb: np.ndarray | None = None) -> list[np.ndarray]:
    """One float32 intensity plane per RGB channel: I0_c * exp(-(gH*H*M[0,c] + gE*E*M[1,c])), with
    ``- Hb * HAEMOGLOBIN_OD[c]`` in the exponent when ``hb`` is given."""
    m = scanner.matrix * np.asarray(scanner.stain_gain, dtype=np.float64)[:, None]
    planes = []
    for c in range(3):
        t = h * np.float32(-m[0, c])
        t -= e * np.float32(m[1, c])
        if hb is not None:
            t -= hb * np.float32(HAEMOGLOBIN_OD[c])
        np.exp(t, out=t)
        t *= np.float32(scanner.i0[c])
        planes.append(t)
    return planes


def concentrations_to_rgb(conc: np.ndarray, scanner: Scanner | str) -> np.ndarray:
    """RGB uint8 of concentrations (no optical blur)."""
    if isinstance(scanner, str):
        scanner = get_scanner(scanner)
    return _to_uint8(_intensity_planes(conc[..., 0], conc[..., 1], scanner, _haemoglobin(conc)))


def _to_uint8(planes: list[np.ndarray]) -> np.ndarray:
    out = np.empty(planes[0].shape + (3,), dtype=np.uint8)
    for c, t in enumerate(planes):
        np.rint(t, out=t)
        np.clip(t, 0, 255, out=t)
        out[..., c] = t
    return out


def blur_sigma(config: SynthConfig) -> float:
    """Total Gaussian blur sigma in level-0 pixels: scanner optics plus ``config.blur``."""
    return get_scanner(config.scanner).blur_um / config.mpp + config.blur


# Gaussian kernels are cut at this many sigmas (3 taps up to sigma 0.75).
_TRUNCATE = 2.0


def _gaussian_kernel(sigma: float) -> np.ndarray:
    r = int(_TRUNCATE * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _blur_crop(plane: np.ndarray, kernel: np.ndarray, pad: int, width: int, height: int) -> np.ndarray:
    """Separable convolution of a plane padded by ``pad`` px, returning the central (height, width).

    Shifted-slice sums: far cheaper than a generic filter for these few taps.
    """
    r = len(kernel) // 2
    o = pad - r
    rows = plane[o : o + height] * kernel[0]
    for k in range(1, len(kernel)):
        rows += plane[o + k : o + k + height] * kernel[k]
    out = rows[:, o : o + width] * kernel[0]
    for k in range(1, len(kernel)):
        out += rows[:, o + k : o + k + width] * kernel[k]
    return out


def render_region(
    config: SynthConfig, x: float, y: float, width: int, height: int, downsample: float = 1.0
) -> np.ndarray:
    """RGB uint8 (height, width, 3) of the region as ``config.scanner`` images it."""
    return _render(config, x, y, width, height, downsample)[0]


def render_region_with_nuclei(
    config: SynthConfig, x: float, y: float, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Level-0 RGB (as :func:`render_region`) and, from the same pass, its nuclei mask: bool (height, width).

    The mask holds exactly the nuclei this render drew (see :func:`training.synth.drawing.draw_nuclei_mask`
    for what counts as one), sharp: the scanner's blur softens the pixels, not the truth.
    """
    rgb, drawn = _render(config, x, y, width, height, 1.0)
    if drawn is None:
        return rgb, np.zeros((height, width), dtype=bool)
    cells, sp, cf = drawn
    mask = draw_nuclei_mask(cells, sp, x, y, width, height)
    mark_nuclei(mask, cf, x, y)
    return rgb, mask


def _render(
    config: SynthConfig, x: float, y: float, width: int, height: int, downsample: float
) -> tuple[np.ndarray, Drawn]:
    """:func:`render_region` and the cells it drew (over the region grown by the blur's margin)."""
    _check_region(width, height, downsample)
    d = float(downsample)
    scanner = get_scanner(config.scanner)
    sigma = blur_sigma(config) / d
    kernel = _gaussian_kernel(sigma) if sigma >= 0.25 else None
    pad = len(kernel) // 2 if kernel is not None else 0
    conc, drawn = _concentrations(config, x - pad * d, y - pad * d, width + 2 * pad, height + 2 * pad, d)
    planes = _intensity_planes(
        np.ascontiguousarray(conc[..., 0]), np.ascontiguousarray(conc[..., 1]), scanner, _haemoglobin(conc)
    )
    if kernel is not None and len(kernel) > 1:
        planes = [_blur_crop(p, kernel, pad, width, height) for p in planes]
    return _to_uint8(planes), drawn


def cells_in_region(config: SynthConfig, x: float, y: float, width: float, height: float) -> dict[str, np.ndarray]:
    """Centres (N, 2) of the regular cells of each kind centred in the level-0 box, placed as the renderer
    places them (clear of the slide's specials and confounders), for checks."""
    layout = build_layout(config)
    cells = regular_cells(layout, x, y, x + width, y + height, specials(config), confounders(config))
    out = {}
    for name, p in cells.items():
        inside = (p["x"] >= x) & (p["x"] < x + width) & (p["y"] >= y) & (p["y"] < y + height)
        out[name] = np.stack([p["x"][inside], p["y"][inside]], axis=1)
    return out
