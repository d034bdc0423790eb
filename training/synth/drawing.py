"""Drawing cells: regular cells, mitoses and imposters onto channel canvases, and their nuclei truth.

Drawing is vectorised over a batch of cells: each cell gets a small square
patch of pixels around it (local bounding box), the batch is evaluated as
(N, P, P) arrays and each patch is added into the tile by slicing. Channels:
``h_tex`` (haematoxylin modulated by the chromatin texture), ``h_flat``
(haematoxylin as drawn), ``e_add`` (eosin) and ``cover`` (how much the cell
hides the background eosin); canvases that ask for it (``SynthConfig.haemoglobin``
above 0) also get ``hb``, the red cells' eosin again, which the renderer turns into
their haemoglobin. :func:`draw_nuclei_mask` marks, from the same
shapes on the same patches, which level-0 pixels are nucleus (the truth for
nuclei segmentation). Where cells are a few pixels wide (low pyramid levels),
:func:`mean_field` gives their expected density instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from training.synth.cells import KINDS, N_UNIFORMS, acceptance, cell_params
from training.synth.layout import Fields, Layout
from training.synth.noise import derive_seed, hash_uniform
from training.synth.specials import MITOSIS, Specials

# Above this downsample cells are a few pixels wide: render their expected
# density (mean field) instead of drawing them one by one.
MAX_CELL_DOWNSAMPLE = 8.0

CHANNELS = ("h_tex", "h_flat", "e_add", "cover")
# The red cells' eosin once more, on canvases that ask for it: where their haemoglobin is
# (training.synth.render colours it when SynthConfig.haemoglobin > 0; without it, no arithmetic changes).
HAEMOGLOBIN = "hb"


class PatchGrid:
    """An output grid cells are drawn on in square patches: pixel (r, c) centre is
    (x0 + (c + 0.5) d, y0 + (r + 0.5) d) in level-0 coordinates."""

    def __init__(self, x0: float, y0: float, width: int, height: int, downsample: float):
        self.x0, self.y0, self.w, self.h, self.d = x0, y0, width, height, float(downsample)

    def patches(
        self, cx: np.ndarray, cy: np.ndarray, radius: float
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Patch geometry for square patches of side ~2*radius (output px) around the centres:
        ``dx`` (N, 1, P) and ``dy`` (N, P, 1) level-0 offsets of pixel centres from the cell
        centre, and the patch origins (column, row) on the canvas."""
        d = self.d
        p = int(math.ceil(2.0 * radius / d)) + 2
        fx = (cx - self.x0) / d - 0.5
        fy = (cy - self.y0) / d - 0.5
        c0 = np.round(fx).astype(np.int64) - p // 2
        r0 = np.round(fy).astype(np.int64) - p // 2
        off = np.arange(p)
        dx = (self.x0 + ((c0[:, None] + off[None, :]) + 0.5) * d - cx[:, None]).astype(np.float32)[:, None, :]
        dy = (self.y0 + ((r0[:, None] + off[None, :]) + 0.5) * d - cy[:, None]).astype(np.float32)[:, :, None]
        return dx, dy, (c0, r0)


class Canvas(PatchGrid):
    """Per-channel accumulators of one output grid (see :class:`PatchGrid` for its pixels).

    ``haemoglobin``: also accumulate the red cells' haemoglobin (channel :data:`HAEMOGLOBIN`).
    """

    def __init__(self, x0: float, y0: float, width: int, height: int, downsample: float, haemoglobin: bool = False):
        super().__init__(x0, y0, width, height, downsample)
        names = CHANNELS + (HAEMOGLOBIN,) if haemoglobin else CHANNELS
        self.acc = {c: np.zeros((height, width), dtype=np.float32) for c in names}

    def add(self, origin: tuple[np.ndarray, np.ndarray], **channels: np.ndarray) -> None:
        """Add (N, P, P) patches of each channel at their origins (clipped to the canvas).

        A loop over cells with slice additions: a tile holds a few hundred
        cells, and this beats scattering every patch pixel (bincount).
        """
        c0, r0 = origin
        if len(c0) == 0:
            return
        arrays = [(self.acc[name], np.broadcast_to(v, (len(c0),) + v.shape[1:])) for name, v in channels.items()]
        p = arrays[0][1].shape[-1]
        w, h = self.w, self.h
        for i in range(len(c0)):
            x0, y0 = int(c0[i]), int(r0[i])
            xa, ya = max(x0, 0), max(y0, 0)
            xb, yb = min(x0 + p, w), min(y0 + p, h)
            if xa >= xb or ya >= yb:
                continue
            src = (slice(ya - y0, yb - y0), slice(xa - x0, xb - x0))
            for acc, v in arrays:
                acc[ya:yb, xa:xb] += v[i][src]

    def result(self) -> dict[str, np.ndarray]:
        """The accumulated channels (the renderer turns them into colours)."""
        return self.acc


def buckets(radius: np.ndarray, d: float) -> Iterator[tuple[np.ndarray, float]]:
    """Group cells by patch size (multiples of 8 output px) so each batch is one array."""
    p = np.ceil(2.0 * radius / d / 8.0).astype(int)
    for value in np.unique(p):
        idx = np.flatnonzero(p == value)
        yield idx, value * 8.0 * d / 2.0


def nucleus_reach(p: dict[str, np.ndarray], d: float) -> np.ndarray:
    """How far (level-0 px) each nucleus's drawing can reach from its centre, plus a pixel."""
    return p["a"] * (1.0 + p["h2"] + p["h3"]) + d


def nucleus_distance(dx: np.ndarray, dy: np.ndarray, f: dict[str, np.ndarray]) -> np.ndarray:
    """Normalised distance of each patch pixel from its nucleus's centre: < 1 inside the outline
    (an ellipse ``a`` x ``b`` at ``angle``, its radius modulated by 2nd and 3rd harmonics)."""
    c, s = np.cos(f["angle"]), np.sin(f["angle"])
    u = (dx * c + dy * s) / f["a"]
    v = (dy * c - dx * s) / f["b"]
    rr = np.sqrt(u * u + v * v)
    inv = 1.0 / np.maximum(rr, 1e-4)
    c1, s1 = u * inv, v * inv
    c2, s2 = c1 * c1 - s1 * s1, 2.0 * c1 * s1
    c3, s3 = c2 * c1 - s2 * s1, s2 * c1 + c2 * s1
    scale = (
        1.0
        + f["h2"] * (c2 * np.cos(f["p2"]) - s2 * np.sin(f["p2"]))
        + f["h3"] * (c3 * np.cos(f["p3"]) - s3 * np.sin(f["p3"]))
    )
    return rr / scale


def draw_nuclei(canvas: Canvas, p: dict[str, np.ndarray]) -> None:
    """Draw nuclei (the parameter arrays of :func:`~training.synth.cells.cell_params`) onto ``canvas``: outline,
    chromatin texture, pale centre, membrane rim and nucleolus."""
    if len(p["x"]) == 0:
        return
    d = canvas.d
    for idx, radius in buckets(nucleus_reach(p, d), d):
        q = {k: v[idx] for k, v in p.items()}
        dx, dy, origin = canvas.patches(q["x"], q["y"], radius)
        f = {k: v.astype(np.float32)[:, None, None] for k, v in q.items() if k not in ("x", "y")}
        dn = nucleus_distance(dx, dy, f)
        radius_out = np.sqrt(f["a"] * f["b"]) / d
        inside = np.clip((1.0 - dn) * radius_out + 0.5, 0.0, 1.0)
        profile = 1.0 - f["pale"] * np.clip(1.0 - dn * dn, 0.0, 1.0)
        rim_w = np.float32(max(0.7 * d, 2.0))
        depth = (1.0 - dn) * np.sqrt(f["a"] * f["b"])
        rim = f["rim"] * np.exp(-((depth / rim_w) ** 2))
        dark = f["dark"] * inside
        flat = dark * (profile * (1.0 - f["tex"]) + rim)
        if np.any(q["nuc"] > 0):
            sig2 = f["nuc_r"] ** 2 + np.float32(0.25 * d * d)
            gain = f["nuc"] * f["nuc_r"] ** 2 / sig2
            flat = flat + inside * gain * np.exp(-((dx - f["nuc_x"]) ** 2 + (dy - f["nuc_y"]) ** 2) / (2.0 * sig2))
        canvas.add(origin, h_tex=dark * profile * f["tex"], h_flat=flat, cover=inside)


Ellipse = tuple[tuple[np.ndarray, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def ellipse_patches(canvas: Canvas, p: dict[str, np.ndarray], reach: np.ndarray) -> Iterator[Ellipse]:
    """Filled ellipses (``x``, ``y``, semi-axes ``a``, ``b``, ``angle``) in patches of ``reach`` + a pixel around
    their centres: per bucket, the patches' origin, the other fields as float32 ``(n, 1, 1)``, the offsets
    ``dx``, ``dy``, the elliptic distance ``dn`` (1 on the outline) and the antialiased coverage ``inside``."""
    d = canvas.d
    for idx, radius in buckets(reach + d, d):
        q = {k: v[idx] for k, v in p.items()}
        dx, dy, origin = canvas.patches(q["x"], q["y"], radius)
        f = {k: v.astype(np.float32)[:, None, None] for k, v in q.items() if k not in ("x", "y")}
        c, s = np.cos(f["angle"]), np.sin(f["angle"])
        u = (dx * c + dy * s) / f["a"]
        v = (dy * c - dx * s) / f["b"]
        dn = np.sqrt(u * u + v * v)
        inside = np.clip((1.0 - dn) * (np.sqrt(f["a"] * f["b"]) / d) + 0.5, 0.0, 1.0)
        yield origin, f, dx, dy, dn, inside


def _draw_rbc(canvas: Canvas, p: dict[str, np.ndarray]) -> None:
    if len(p["x"]) == 0:
        return
    haemoglobin = HAEMOGLOBIN in canvas.acc
    for origin, f, _, _, dn, inside in ellipse_patches(canvas, p, p["a"]):
        pallor = 1.0 - 0.4 * np.exp(-((dn / 0.5) ** 2))
        eosin = f["eo"] * inside * pallor
        # Haemoglobin goes with the eosin: as much as the cell is thick (the pale centre has less).
        extra = {HAEMOGLOBIN: eosin} if haemoglobin else {}
        canvas.add(origin, e_add=eosin, cover=0.5 * inside, **extra)


def _special_bodies(blobs: np.ndarray, dx: np.ndarray, dy: np.ndarray, d: float) -> tuple[np.ndarray, np.ndarray]:
    """The nuclear material of special cells on their patches, ``(chrom, body)`` each (N, P, P).

    ``chrom``: a mitosis's chromatin, a saturating sum of Gaussian clumps (irregular,
    knobbly, no membrane), 0..1. ``body``: an imposter's union of smooth discs with a
    crisp, round edge (the disc coverage of each pixel), 0..1. ``blobs`` float32 (N, K, 4).
    """
    ox = blobs[:, :, 0, None, None]  # (N, K, 1, 1)
    oy = blobs[:, :, 1, None, None]
    size = blobs[:, :, 2, None, None]
    weight = blobs[:, :, 3, None, None]
    ddx = dx[:, None] - ox  # (N, K, P, P)
    ddy = dy[:, None] - oy
    r2 = ddx * ddx + ddy * ddy
    sig2 = size * size + np.float32(0.25 * d * d)
    gauss = (weight * (size * size / sig2) * np.exp(-r2 / (2.0 * sig2))).sum(axis=1)
    chrom = 1.0 - np.exp(-2.2 * gauss)
    disc = np.clip((size - np.sqrt(r2)) / np.float32(max(d, 1.0)) + 0.5, 0.0, 1.0) * (weight > 0)
    return chrom, disc.max(axis=1)


def draw_specials(canvas: Canvas, sp: Specials) -> None:
    """Draw the mitotic figures and imposters of ``sp`` onto ``canvas`` (their chromatin or body, halo, rim)."""
    if len(sp) == 0:
        return
    d = canvas.d
    for idx, radius in buckets(sp.extent, d):
        q = sp.select(idx)
        dx, dy, origin = canvas.patches(q.x, q.y, radius)
        blobs = q.blobs.astype(np.float32)
        chrom, body = _special_bodies(blobs, dx, dy, d)
        dark = q.dark.astype(np.float32)[:, None, None]
        is_mit = (q.category == MITOSIS)[:, None, None]
        h = dark * np.where(is_mit, chrom, body * 0.97)
        r_c = np.sqrt(dx * dx + dy * dy)
        halo_r = q.halo.astype(np.float32)[:, None, None]
        halo = np.where(halo_r > 0, np.clip((halo_r - r_c) / np.float32(max(d, 2.0)) + 0.5, 0.0, 1.0), 0.0)
        cover = np.maximum(np.where(is_mit, np.clip(chrom * 1.5, 0, 1), body), 0.55 * halo)
        # Imposters: a shrunken, hyper-eosinophilic cytoplasm rim around the body.
        body_r = (np.hypot(blobs[:, :, 0], blobs[:, :, 1]) + blobs[:, :, 2]) * (blobs[:, :, 3] > 0)
        body_r = body_r.max(axis=1)[:, None, None]
        ring = np.clip((1.7 * body_r - r_c) / np.float32(max(d, 1.0)) + 0.5, 0.0, 1.0) * (1.0 - body)
        rim = q.eosin_rim.astype(np.float32)[:, None, None]
        canvas.add(origin, h_flat=h, cover=cover, e_add=np.where(is_mit, 0.0, rim * ring))


def draw_cells(canvas: Canvas, cells: dict[str, dict[str, np.ndarray]], sp: Specials | None) -> None:
    """Draw the regular cells of each kind, then the specials, onto ``canvas``."""
    for kind in KINDS:
        p = cells.get(kind.name)
        if p is None:
            continue
        if kind.shape == "rbc":
            _draw_rbc(canvas, p)
        else:
            draw_nuclei(canvas, p)
    if sp is not None:
        draw_specials(canvas, sp)


# --------------------------------------------------------------------------- nuclei truth

# A mitosis's pixel is nucleus where its chromatin hides at least half the background,
# as drawn: cover = clip(1.5 * chrom) >= 0.5.
MITOSIS_CHROMATIN_MIN = 1.0 / 3.0


def draw_nuclei_mask(
    cells: dict[str, dict[str, np.ndarray]], sp: Specials | None, x: float, y: float, width: int, height: int
) -> np.ndarray:
    """Which level-0 pixels of ``[x, x + width) x [y, y + height)`` show a nucleus: bool (height, width).

    The same shapes, on the same patches, as :func:`draw_cells` draws at downsample 1,
    each pixel judged at its centre. A nucleus is:

    * every regular cell of a nucleus kind (tumour, gland epithelium, fibroblast,
      lymphocyte, vessel wall): the pixels inside its drawn outline (where the drawing
      covers at least half the pixel), nucleolus and rim included;
    * a mitotic figure: its condensed chromatin where it hides at least half the
      background (``MITOSIS_CHROMATIN_MIN``); anaphase and telophase are two separate
      parts, so the figure's centre may lie between them, outside the mask;
    * an imposter (a pyknotic nucleus or an apoptotic body: round, smooth, dark
      nuclear material): its discs.

    Not nuclei: red blood cells, a mitosis's clear halo, an imposter's eosinophilic
    cytoplasm rim, and the background haematoxylin of stroma and cytoplasm. The
    confounders' nuclei are added by :func:`training.synth.confounders.mark_nuclei`.
    """
    grid = PatchGrid(x, y, width, height, 1.0)
    mask = np.zeros((height, width), dtype=bool)
    for kind in KINDS:
        p = cells.get(kind.name)
        if p is None or kind.shape != "nucleus" or len(p["x"]) == 0:
            continue
        for idx, radius in buckets(nucleus_reach(p, grid.d), grid.d):
            q = {k: v[idx] for k, v in p.items()}
            dx, dy, origin = grid.patches(q["x"], q["y"], radius)
            f = {k: v.astype(np.float32)[:, None, None] for k, v in q.items() if k not in ("x", "y")}
            mark(mask, origin, nucleus_distance(dx, dy, f) <= 1.0)
    if sp is not None and len(sp):
        for idx, radius in buckets(sp.extent, grid.d):
            s = sp.select(idx)
            dx, dy, origin = grid.patches(s.x, s.y, radius)
            chrom, body = _special_bodies(s.blobs.astype(np.float32), dx, dy, grid.d)
            is_mit = (s.category == MITOSIS)[:, None, None]
            mark(mask, origin, np.where(is_mit, chrom >= MITOSIS_CHROMATIN_MIN, body >= 0.5))
    return mask


def mark(mask: np.ndarray, origin: tuple[np.ndarray, np.ndarray], inside: np.ndarray) -> None:
    """OR (N, P, P) boolean patches into ``mask`` at their origins (clipped), as Canvas.add adds."""
    c0, r0 = origin
    p = inside.shape[-1]
    h, w = mask.shape
    for i in range(len(c0)):
        x0, y0 = int(c0[i]), int(r0[i])
        xa, ya = max(x0, 0), max(y0, 0)
        xb, yb = min(x0 + p, w), min(y0 + p, h)
        if xa < xb and ya < yb:
            mask[ya:yb, xa:xb] |= inside[i, ya - y0 : yb - y0, xa - x0 : xb - x0]


# --------------------------------------------------------------------------- mean field


@lru_cache(maxsize=64)
def mean_cell(kind_name: str, mpp: float, positive: bool = False) -> dict[str, float]:
    """Expected channel integrals (level-0 px^2) of one cell of ``kind_name``: drawn,
    not guessed, from 400 sample cells so the mean field matches the cells (``positive``:
    those of a positive slide, so its low-resolution levels show its tumour nuclei too).
    :data:`HAEMOGLOBIN` included (0 but for red cells)."""
    layout = Layout(0, 1 << 20, 1 << 20, mpp, "tumour", 0.0, None, (), (), (), (0.0, 1.0), positive=positive)
    n = 400
    u = hash_uniform(derive_seed(0, "mean-cell", kind_name), np.arange(n)[:, None], 0, np.arange(N_UNIFORMS)[None, :])
    spacing = layout.px(40.0)
    cx = (np.arange(n) % 20 + 0.5) * spacing
    cy = (np.arange(n) // 20 + 0.5) * spacing
    ones = np.ones(n, dtype=np.float32)
    f = Fields(*(ones * v for v in (1, 1, 1, 0, 0, 0, 0, 0, 0.5)))
    p = cell_params(layout, kind_name, cx, cy, u, f, (0, 0, 1, 1))
    canvas = Canvas(0.0, 0.0, int(20 * spacing) + 1, int(20 * spacing) + 1, 1.0, haemoglobin=True)
    draw_cells(canvas, {kind_name: p}, None)
    return {c: float(a.sum(dtype=np.float64)) / n for c, a in canvas.acc.items()}


def mean_field(layout: Layout, f: Fields, d: float, haemoglobin: bool = False) -> dict[str, np.ndarray]:
    """Expected channel densities per output pixel from the acceptance fields (``haemoglobin``: with
    :data:`HAEMOGLOBIN`, as a :class:`Canvas` that asks for it)."""
    names = CHANNELS + (HAEMOGLOBIN,) if haemoglobin else CHANNELS
    out = {c: np.zeros(f.tissue.shape, dtype=np.float32) for c in names}
    for kind in KINDS:
        s = layout.px(kind.spacing_um)
        site_area = s * s * math.sqrt(3.0) / 2.0
        density = acceptance(kind.name, f) / np.float32(site_area)
        positive = layout.positive and kind.name == "tumour"  # the other kinds are the same on either slide
        for c, m in mean_cell(kind.name, layout.mpp, positive).items():
            if m and c in out:
                out[c] += density * np.float32(m)
    out["cover"] = np.minimum(out["cover"], 1.0)
    return out
