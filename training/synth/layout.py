"""Where things are: tissue, tumour, tumour nests, vessels, glands, bleeds.

The layout is built once per configuration (:func:`build_layout`, cached) from a
few seeded random draws (blob shapes and positions) plus coordinate-hashed
noise fields. :func:`fields` evaluates it on any grid of pixel centres or at
any points, so low-resolution truth masks, cell placement and full-resolution
tiles all see the same regions. Nothing here depends on the scanner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from training.synth.config import SynthConfig
from training.synth.noise import derive_seed, fbm_grid, fbm_points, lattice_field_grid
from training.synth.shapes import Blob, random_harmonics

# Blob radii are evaluated on a global lattice of this step (level-0 px) and
# interpolated when rendering finer than it: smooth fields, 1/16 of the cost.
BLOB_LATTICE_STEP = 4.0
OCCUPANCY_STEP = 64
# Tumour epithelium where the nest noise exceeds this (about two thirds of the tumour).
NEST_THRESHOLD = 0.47
_FAR = np.float32(9.0)


@dataclass(frozen=True, eq=False)
class Layout:
    """The slide-wide structure drawn from the seed: tissue, tumour, vessels, glands, bleeds, fibres.

    Everything a pixel's colour depends on besides its position, so any region can be rendered alone.
    """

    seed: int
    width: int
    height: int
    mpp: float
    label: str
    tissue_threshold: float
    tumour: Blob | None
    vessels: tuple[Blob, ...]
    glands: tuple[Blob, ...]
    bleeds: tuple[Blob, ...]
    fibre_angles: tuple[float, float]
    # Coarse map of cells (OCCUPANCY_STEP level-0 px) that may hold tissue; None = everywhere.
    occupancy: np.ndarray | None = None
    # SynthConfig.positive: the slide-level change of the tumour nuclei (training.synth.cells); not of where things are.
    positive: bool = False

    def px(self, micrometres: float) -> float:
        """Micrometres to level-0 pixels."""
        return micrometres / self.mpp

    def may_have_content(self, x0: float, y0: float, x1: float, y1: float) -> bool:
        """False only when [x0, x1) x [y0, y1) is certainly bare glass (a fast skip)."""
        if any(b.intersects(x0, y0, x1, y1, 1.2) for b in self.bleeds):
            return True
        if self.occupancy is None:
            return True
        g = OCCUPANCY_STEP
        h, w = self.occupancy.shape
        i0, i1 = max(int(x0 // g), 0), min(int(math.ceil(x1 / g)), w)
        j0, j1 = max(int(y0 // g), 0), min(int(math.ceil(y1 / g)), h)
        if i0 >= i1 or j0 >= j1:
            return False
        return bool(self.occupancy[j0:j1, i0:i1].any())

    @property
    def tissue_spacing(self) -> float:
        """Tissue noise pitch in level-0 px, a fixed fraction of the longer side: tissue scales with the slide."""
        return max(self.width, self.height) / 2.2


@dataclass
class Fields:
    """Layout fields at a set of positions (all float32 arrays of one shape, 0..1)."""

    tissue: np.ndarray  # tissue present (0 = bare glass, incl. holes and gland lumens)
    tumour: np.ndarray  # inside the truth tumour outline
    nest: np.ndarray  # tumour epithelium (nests) within the tumour
    lumen: np.ndarray  # vessel lumen (plasma and red cells)
    wall: np.ndarray  # vessel wall
    gland: np.ndarray  # normal gland epithelium ring
    bleed: np.ndarray  # haemorrhage (red cells on tissue or glass)
    lymph: np.ndarray  # lymphocyte cluster intensity
    fibre_mix: np.ndarray  # blend weight of the second collagen fibre family

    @property
    def stroma(self) -> np.ndarray:
        """Stroma: tissue that is neither tumour nest, vessel nor gland."""
        return self.tissue * (1.0 - self.nest) * (1.0 - self.lumen) * (1.0 - self.wall) * (1.0 - self.gland)


# --------------------------------------------------------------------------- samplers


class GridSampler:
    """Pixel centres ``ys x xs`` (level-0 coordinates) of an image at ``downsample``.

    ``lattice=False`` evaluates every field exactly at the grid points (for
    sparse grids whose spacing is far coarser than ``downsample``: the global
    interpolation lattices would span the whole grid at a fine step).
    """

    def __init__(self, xs: np.ndarray, ys: np.ndarray, downsample: float, lattice: bool = True):
        self.xs = np.asarray(xs, dtype=np.float64)
        self.ys = np.asarray(ys, dtype=np.float64)
        self.d = float(downsample)
        self.lattice = lattice
        self.shape = (len(self.ys), len(self.xs))
        self.bounds = (self.xs[0] - self.d, self.ys[0] - self.d, self.xs[-1] + self.d, self.ys[-1] + self.d)

    def fbm(self, seed: int, spacing: float, octaves: int, gain: float = 0.5) -> np.ndarray:
        """Fractal noise at every grid point (interpolated from a global lattice when ``lattice``)."""
        return fbm_grid(seed, self.xs, self.ys, spacing, octaves, gain, self.d, self.lattice)

    def blob_radius(self, blob: Blob, outer: float = 1.5) -> np.ndarray:
        """Normalised radius, computed only in the blob's bounding box (``_FAR`` elsewhere)."""
        out = np.full(self.shape, _FAR, dtype=np.float32)
        window = self.blob_window(blob, outer)
        if window is not None:
            out[window[0]] = window[1]
        return out

    def blob_window(self, blob: Blob, outer: float) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """(index, radius) over the blob's bounding box: ``index`` a pair of slices; None if empty."""
        x0, y0, x1, y1 = blob.bbox(outer)
        i0, i1 = np.searchsorted(self.xs, [x0, x1])
        j0, j1 = np.searchsorted(self.ys, [y0, y1])
        if i1 <= i0 or j1 <= j0:
            return None
        xs, ys = self.xs[i0:i1], self.ys[j0:j1]
        if self.lattice and self.d < BLOB_LATTICE_STEP:
            r = lattice_field_grid(blob.radius, xs, ys, BLOB_LATTICE_STEP)
        else:
            r = blob.radius(xs[None, :], ys[:, None])
        return (slice(j0, j1), slice(i0, i1)), r

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """The grid as broadcastable (1, W) and (H, 1) coordinate arrays."""
        return self.xs[None, :], self.ys[:, None]


class PointSampler:
    """Scattered points (level-0 coordinates).

    ``lattice=True`` interpolates noise from the same global lattice as a
    level-0 :class:`GridSampler` (cheap for many points in a small area: cell
    sites of a tile); ``False`` evaluates it exactly (few points spread widely).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, lattice: bool = False):
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.lattice = lattice
        self.d = 1.0
        self.shape = self.x.shape
        if self.x.size:
            self.bounds = (self.x.min() - 1, self.y.min() - 1, self.x.max() + 1, self.y.max() + 1)
        else:
            self.bounds = (0.0, 0.0, 0.0, 0.0)

    def fbm(self, seed: int, spacing: float, octaves: int, gain: float = 0.5) -> np.ndarray:
        """Fractal noise at every point (interpolated from a global lattice when ``lattice``)."""
        return fbm_points(seed, self.x, self.y, spacing, octaves, gain, 1.0, self.lattice)

    def blob_window(self, blob: Blob, outer: float) -> tuple[np.ndarray, np.ndarray] | None:
        """(index, radius) at the points in the blob's bounding box: ``index`` a boolean mask."""
        x0, y0, x1, y1 = blob.bbox(outer)
        near = (self.x > x0) & (self.x < x1) & (self.y > y0) & (self.y < y1)
        if not np.any(near):
            return None
        return near, blob.radius(self.x[near], self.y[near])

    def blob_radius(self, blob: Blob, outer: float = 1.5) -> np.ndarray:
        """Normalised radius at the points in the blob's bounding box (``_FAR`` elsewhere)."""
        out = np.full(self.shape, _FAR, dtype=np.float32)
        x0, y0, x1, y1 = blob.bbox(outer)
        near = (self.x > x0) & (self.x < x1) & (self.y > y0) & (self.y < y1)
        if np.any(near):
            out[near] = blob.radius(self.x[near], self.y[near])
        return out

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """The points' coordinates, (N,) each."""
        return self.x, self.y


# What every field below is evaluated on: a grid (rendering) or scattered points (cell sites).
Sampler = GridSampler | PointSampler


# --------------------------------------------------------------------------- fields


def _edge(value: np.ndarray, threshold: float, width_px: float) -> np.ndarray:
    """Soft step 0 -> 1 as ``value`` crosses ``threshold``; ``width_px`` = value units per pixel^-1."""
    return np.clip((value - np.float32(threshold)) * np.float32(width_px) + np.float32(0.5), 0.0, 1.0)


def _blob_alpha(radius: np.ndarray, blob: Blob, d: float, inner: float = 1.0) -> np.ndarray:
    """Anti-aliased inside-ness of the normalised radius ``inner`` contour (1 px edge at this scale)."""
    return np.clip((np.float32(inner) - radius) * np.float32(blob.mean_radius / d) + np.float32(0.5), 0.0, 1.0)


def tissue_value(layout: Layout, s: Sampler) -> np.ndarray:
    """The tissue field before thresholding (no tumour boost, no holes)."""
    x, y = s.coordinates()
    spacing = layout.tissue_spacing
    v = s.fbm(derive_seed(layout.seed, "tissue"), spacing, 4, 0.55)
    v += np.float32(0.06) * (s.fbm(derive_seed(layout.seed, "fray"), layout.px(30.0), 2) - np.float32(0.5))
    # Envelope: tissue thins out towards the slide edges and never touches them.
    ex = np.abs(2.0 * np.asarray(x, dtype=np.float32) / np.float32(layout.width) - np.float32(1.0))
    ey = np.abs(2.0 * np.asarray(y, dtype=np.float32) / np.float32(layout.height) - np.float32(1.0))
    if ex.size and ey.size and (float(ex.max()) ** 4 + float(ey.max()) ** 4) ** 0.25 <= 0.55:
        return v  # far from every edge: no envelope term
    e4 = ex**4 + ey**4
    e = np.sqrt(np.sqrt(e4))
    v = v - np.float32(0.35) * np.clip((e - np.float32(0.55)) / np.float32(0.4), 0.0, 1.0) ** 2
    v = v - np.float32(2.0) * (e > np.float32(0.97))
    return v


def tumour_radius(layout: Layout, s: Sampler) -> np.ndarray:
    """Normalised tumour radius (< 1 inside) including a fine boundary wobble."""
    if layout.tumour is None:
        return np.full(s.shape, _FAR, dtype=np.float32)
    r = s.blob_radius(layout.tumour, outer=1.6)
    if np.all(r >= _FAR):
        return r
    wobble = s.fbm(derive_seed(layout.seed, "tumour-wobble"), layout.px(80.0), 3)
    return r * (np.float32(1.0) + np.float32(0.12) * (wobble - np.float32(0.5)))


def _near_tumour(layout: Layout, s: Sampler) -> bool:
    return layout.tumour is not None and layout.tumour.intersects(*s.bounds, 1.6)


def fields(layout: Layout, s: Sampler, lymph: bool = True) -> Fields:
    """All layout fields for a :class:`GridSampler` or :class:`PointSampler`.

    ``lymph=False`` skips the lymphocyte-cluster field (only cell placement
    and the mean field use it) and returns zeros for it.
    """
    d = s.d
    seed = layout.seed
    tissue_px = layout.tissue_spacing
    shape = s.shape
    zeros = np.zeros(shape, dtype=np.float32)

    value = tissue_value(layout, s)
    tumour_blob = layout.tumour
    if tumour_blob is not None and _near_tumour(layout, s):
        r_t = tumour_radius(layout, s)
        tumour = _blob_alpha(r_t, tumour_blob, d)
        tumour_core = np.clip((np.float32(1.3) - r_t) * np.float32(4.0), 0.0, 1.0)
        value += np.float32(0.8) * tumour_core
    else:
        r_t = None
        tumour = zeros
        tumour_core = None
    tissue = _edge(value, layout.tissue_threshold, tissue_px / (2.5 * d))

    hole_px = layout.px(300.0)
    holes = s.fbm(derive_seed(seed, "holes"), hole_px, 2)
    keep = _edge(np.float32(0.73) - holes, 0.0, hole_px / (2.5 * d))
    if tumour_core is not None:
        np.maximum(keep, tumour_core, out=keep)
    tissue *= keep

    if r_t is not None and tumour_blob is not None and np.any(tumour > 0):
        nest_px = layout.px(90.0)
        n = s.fbm(derive_seed(seed, "nests"), nest_px, 3)
        inside = np.clip((np.float32(1.0) - r_t) * np.float32(tumour_blob.mean_radius / d) + np.float32(0.5), 0.0, 1.0)
        nest = _edge(n, NEST_THRESHOLD, nest_px / (2.5 * d)) * inside * tissue
    else:
        nest = zeros

    lumen = zeros.copy()
    wall = zeros.copy()
    for blob in _local(layout.vessels, s):
        win = s.blob_window(blob, 1.8)
        if win is None:
            continue
        idx, r = win
        wall_outer = 1.0 + 0.25 + layout.px(5.0) / blob.mean_radius
        lumen[idx] = np.maximum(lumen[idx], _blob_alpha(r, blob, d))
        wall[idx] = np.maximum(wall[idx], _blob_alpha(r, blob, d, wall_outer))
    if wall.any():
        wall = np.clip(wall - lumen, 0.0, 1.0) * tissue
        lumen *= tissue

    gland = zeros.copy()
    gland_lumen = zeros.copy()
    for blob in _local(layout.glands, s):
        win = s.blob_window(blob, 1.2)
        if win is None:
            continue
        idx, r = win
        gland[idx] = np.maximum(gland[idx], _blob_alpha(r, blob, d))
        gland_lumen[idx] = np.maximum(gland_lumen[idx], _blob_alpha(r, blob, d, 0.5))
    if gland.any():
        gland = np.clip(gland - gland_lumen, 0.0, 1.0) * tissue
        tissue *= np.float32(1.0) - gland_lumen

    bleed = zeros.copy()
    for blob in _local(layout.bleeds, s):
        win = s.blob_window(blob, 1.2)
        if win is None:
            continue
        idx, r = win
        bleed[idx] = np.maximum(bleed[idx], _blob_alpha(r, blob, d))
    if np.any(bleed > 0):
        patch = s.fbm(derive_seed(seed, "bleed-patch"), layout.px(40.0), 2)
        bleed *= np.clip((patch - np.float32(0.3)) * np.float32(5.0), 0.0, 1.0)

    if lymph:
        lymph_f = np.clip(
            (s.fbm(derive_seed(seed, "lymph"), layout.px(180.0), 2) - np.float32(0.63)) * np.float32(6.0), 0.0, 1.0
        )
    else:
        lymph_f = zeros
    fibre_mix = np.clip(
        (s.fbm(derive_seed(seed, "fibre-mix"), layout.px(300.0), 2) - np.float32(0.5)) * np.float32(6.0)
        + np.float32(0.5),
        0.0,
        1.0,
    )
    return Fields(tissue, tumour, nest, lumen, wall, gland, bleed, lymph_f, fibre_mix)


def _local(blobs: tuple[Blob, ...], s: Sampler) -> list[Blob]:
    x0, y0, x1, y1 = s.bounds
    return [b for b in blobs if b.intersects(x0, y0, x1, y1, 1.8)]


# --------------------------------------------------------------------------- masks


def grid_for(layout: Layout, downsample: float) -> GridSampler:
    """Pixel centres of the whole slide at ``downsample`` (ceil-sized, like a pyramid level)."""
    w = math.ceil(layout.width / downsample)
    h = math.ceil(layout.height / downsample)
    return GridSampler((np.arange(w) + 0.5) * downsample, (np.arange(h) + 0.5) * downsample, downsample)


# The truth masks' largest side (see mask_downsample).
MASK_MAX_SIDE = 2048


def mask_downsample(width: int, height: int) -> int:
    """Smallest power of two >= 4 that brings the slide within MASK_MAX_SIDE pixels (the truth masks' grid)."""
    d = 4
    while max(width, height) / d > MASK_MAX_SIDE:
        d *= 2
    return d


def tissue_area_mm2(layout: Layout) -> float:
    """The slide's tissue area in mm^2, from its tissue mask at :func:`mask_downsample` (the truth file's figure)."""
    ds = mask_downsample(layout.width, layout.height)
    return float(tissue_mask(layout, ds).sum()) * (ds * layout.mpp / 1000.0) ** 2


def tissue_mask(layout: Layout, downsample: float) -> np.ndarray:
    """Boolean tissue mask of the whole slide at ``downsample``."""
    return fields(layout, grid_for(layout, downsample)).tissue > 0.5


def tumour_mask(layout: Layout, downsample: float) -> np.ndarray:
    """Boolean truth tumour mask of the whole slide at ``downsample`` (all False on normal slides)."""
    s = grid_for(layout, downsample)
    return tumour_radius(layout, s) < 1.0


# --------------------------------------------------------------------------- building


@lru_cache(maxsize=16)
def _build(content_key: tuple) -> Layout:
    cfg = dict(content_key)
    seed, width, height, mpp = cfg["seed"], cfg["width"], cfg["height"], cfg["mpp"]
    rng = np.random.default_rng(derive_seed(seed, "layout"))
    short = min(width, height)

    tumour = None
    if cfg["label"] == "tumour":
        a = float(rng.uniform(0.2, 0.34) * short)
        b = float(a * rng.uniform(0.5, 0.85))
        harm = random_harmonics(rng, 5, 0.22)
        scale = 1.0 + sum(abs(h[1]) for h in harm)
        margin = 0.08 * short + a * scale
        cx = float(rng.uniform(min(margin, width / 2), max(width - margin, width / 2)))
        cy = float(rng.uniform(min(margin, height / 2), max(height - margin, height / 2)))
        tumour = Blob(cx, cy, a, b, float(rng.uniform(0, math.pi)), harm)
    angles = float(rng.uniform(0, math.pi))
    fibre_angles = (angles, angles + float(rng.uniform(0.6, 1.2)))

    bare = Layout(seed, width, height, mpp, cfg["label"], 0.0, tumour, (), (), (), fibre_angles)
    # Threshold so that tissue covers a seeded fraction of the slide.
    coarse = grid_for(bare, max(width, height) / 192.0)
    x, y = coarse.coordinates()
    value = tissue_value(bare, coarse)
    target = float(rng.uniform(0.35, 0.55))
    threshold = float(np.quantile(value, 1.0 - target))
    layout = Layout(seed, width, height, mpp, cfg["label"], threshold, tumour, (), (), (), fibre_angles)

    tissue_area_um2 = target * width * height * mpp * mpp
    vessels = _place_blobs(
        layout,
        rng,
        count=int(round(tissue_area_um2 / 200.0**2)) + 1,
        radius_um=(7.0, 45.0),
        aspect=(0.35, 1.0),
        harm=0.08,
        avoid_nests=True,
        others=(),
    )
    layout = Layout(seed, width, height, mpp, cfg["label"], threshold, tumour, vessels, (), (), fibre_angles)
    glands = _place_blobs(
        layout,
        rng,
        count=int(round(tissue_area_um2 / (260.0 if tumour else 190.0) ** 2)) + 1,
        radius_um=(22.0, 45.0),
        aspect=(0.55, 1.0),
        harm=0.10,
        avoid_nests=True,
        others=vessels,
        avoid_tumour=True,
    )
    bleeds: list[Blob] = []
    if rng.random() < 0.6:
        for _ in range(int(rng.integers(1, 3))):
            bleeds.append(_place_bleed(layout, rng))
    final = Layout(
        seed, width, height, mpp, cfg["label"], threshold, tumour, vessels, glands, tuple(bleeds), fibre_angles
    )
    return Layout(
        seed,
        width,
        height,
        mpp,
        cfg["label"],
        threshold,
        tumour,
        vessels,
        glands,
        tuple(bleeds),
        fibre_angles,
        _occupancy(final),
        bool(cfg["positive"]),
    )


def _occupancy(layout: Layout) -> np.ndarray:
    """Coarse cells that may hold tissue: the tissue field at the cell corners comes within
    a safe margin of the threshold (field variation inside a cell is far smaller), dilated."""
    g = OCCUPANCY_STEP
    nx = math.ceil(layout.width / g)
    ny = math.ceil(layout.height / g)
    s = GridSampler(np.arange(nx + 1) * float(g), np.arange(ny + 1) * float(g), 1.0, lattice=False)
    value = tissue_value(layout, s)
    if layout.tumour is not None:
        r_t = tumour_radius(layout, s)
        value = value + np.float32(0.8) * np.clip((np.float32(1.3) - r_t) * np.float32(4.0), 0.0, 1.0)
    corner = value > layout.tissue_threshold - 0.1
    cell = corner[:-1, :-1] | corner[1:, :-1] | corner[:-1, 1:] | corner[1:, 1:]
    grown = cell.copy()
    grown[1:, :] |= cell[:-1, :]
    grown[:-1, :] |= cell[1:, :]
    grown2 = grown.copy()
    grown2[:, 1:] |= grown[:, :-1]
    grown2[:, :-1] |= grown[:, 1:]
    return grown2


def build_layout(config: SynthConfig) -> Layout:
    """The (cached) layout of ``config``; independent of scanner and blur."""
    return _build(config.content_key())


def _place_blobs(
    layout: Layout,
    rng: np.random.Generator,
    count: int,
    radius_um: tuple[float, float],
    aspect: tuple[float, float],
    harm: float,
    avoid_nests: bool,
    others: tuple[Blob, ...],
    avoid_tumour: bool = False,
) -> tuple[Blob, ...]:
    """Rejection-sample non-overlapping blobs well inside tissue."""
    placed: list[Blob] = []
    cx_arr = np.array([o.cx for o in others] + [0.0] * (count + 1))
    cy_arr = np.array([o.cy for o in others] + [0.0] * (count + 1))
    cr_arr = np.array([o.a * o.max_scale * 1.5 for o in others] + [0.0] * (count + 1))
    used = len(others)
    n = max(64, 6 * count)
    x = rng.uniform(0, layout.width, n)
    y = rng.uniform(0, layout.height, n)
    radius = np.exp(rng.uniform(math.log(radius_um[0]), math.log(radius_um[1]), n)) / layout.mpp
    asp = rng.uniform(aspect[0], aspect[1], n)
    angle = rng.uniform(0, math.pi, n)
    harm_draws = [random_harmonics(rng, 3, harm) for _ in range(n)]
    # Tissue must be present around the whole blob: centre and 8 points at 1.6 radii.
    ring = np.linspace(0, 2 * math.pi, 8, endpoint=False)
    px = np.concatenate([x[:, None], x[:, None] + 1.6 * radius[:, None] * np.cos(ring)], axis=1)
    py = np.concatenate([y[:, None], y[:, None] + 1.6 * radius[:, None] * np.sin(ring)], axis=1)
    f = fields(layout, PointSampler(px, py))
    ok = f.tissue.min(axis=1) > 0.95
    if avoid_nests:
        ok &= f.nest.max(axis=1) < 0.05
    if avoid_tumour:
        ok &= f.tumour.max(axis=1) < 0.05
    for i in np.flatnonzero(ok):
        if len(placed) >= count:
            break
        r_out = radius[i] * 1.5
        gap2 = (cx_arr[:used] - x[i]) ** 2 + (cy_arr[:used] - y[i]) ** 2
        if np.any(gap2 < (r_out + cr_arr[:used]) ** 2):
            continue
        blob = Blob(
            float(x[i]), float(y[i]), float(radius[i]), float(radius[i] * asp[i]), float(angle[i]), harm_draws[i]
        )
        placed.append(blob)
        cx_arr[used], cy_arr[used], cr_arr[used] = blob.cx, blob.cy, r_out
        used += 1
    return tuple(placed)


def _place_bleed(layout: Layout, rng: np.random.Generator) -> Blob:
    """A haemorrhage near a tissue edge (partly on glass, partly on tissue)."""
    n = 256
    x = rng.uniform(0.1, 0.9, n) * layout.width
    y = rng.uniform(0.1, 0.9, n) * layout.height
    value = tissue_value(layout, PointSampler(x, y))
    i = int(np.argmin(np.abs(value - layout.tissue_threshold)))
    r = min(float(rng.uniform(60.0, 260.0)) / layout.mpp, 0.12 * min(layout.width, layout.height))
    return Blob(
        float(x[i]),
        float(y[i]),
        r,
        r * float(rng.uniform(0.4, 0.9)),
        float(rng.uniform(0, math.pi)),
        random_harmonics(rng, 5, 0.35),
    )
