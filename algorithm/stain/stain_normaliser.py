"""Stain normalisation with a fixed stain matrix per slide (Macenko or Vahadane).

StainTools' semantics:

- ``fit(target)``: the target's stain matrix (from its tissue pixels) and the
  99th percentiles of its concentrations (over all its pixels for per-image
  use, as StainTools; over its tissue pixels for the per-slide mode, see
  ``statistics`` in :mod:`algorithm.stain.base`);
- ``transform(image)``: the source's concentrations, each stain scaled by
  ``maxC_target / maxC_source``, re-rendered with the target matrix as
  ``255 * exp(-C @ M_target)``, truncated to uint8.

StainTools refits the source on every call (about a second per tile for
Vahadane). Here ``fit_source(pixels)`` fits it once per slide from tissue
pixels sampled across the slide; ``transform`` then maps batches with fixed
matrices, vectorised on the input's device (on the CPU through a 256^3 lookup
table, see :mod:`algorithm.stain.pixel_map`). Without ``fit_source`` each image
is fitted on its own, as StainTools does, and an image that cannot be fitted
(too little tissue, one colour) is returned unchanged instead of crashing.

Concentrations are solved with StainTools 2.1.2's regularised non-negative
lasso (lambda 0.01) exactly, in closed form, or optionally by clamped least
squares (``solver="pinv"``); see :mod:`algorithm.stain.concentrations`.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from algorithm.stain.base import Normaliser, Params
from algorithm.stain.concentrations import DEFAULT_LAMBDA, ConcentrationSolver, check_solver, get_concentrations
from algorithm.stain.errors import InputShapeError, StainFitError
from algorithm.stain.extractor import StainExtractor, order_and_normalise
from algorithm.stain.images import ImageLike, to_numpy_pixels
from algorithm.stain.optical_density import I0, luminosity_tissue_mask, od_table, rgb_to_od
from algorithm.stain.pixel_map import PixelMap

# Below this 99th-percentile concentration a stain is absent: scaling by it would explode.
MIN_MAX_CONCENTRATION = 1e-3
# Added before truncating to uint8 so float32 rounding cannot turn 255.0 into 254.
_TRUNCATION_EPS = 1e-3


def correlation_tables(stain_matrix: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(2, 3, 256)`` float32: ``tables[k, c, v] = OD(v) * M[k, c]``.

    A pixel's correlation with stain k, ``b_k = M[k] . OD(pixel)``, is then three
    gathers and two adds: no logarithm per pixel.
    """
    m = torch.as_tensor(stain_matrix, dtype=torch.float32, device=device)
    return (m[:, :, None] * od_table(torch.float32, device)[None, None, :]).contiguous()


def correlations(px: torch.Tensor, tables: torch.Tensor) -> list[torch.Tensor]:
    """``[b_H, b_E]`` (each ``(P,)`` float32) of uint8 pixels ``(P, 3)``."""
    idx = px.T.contiguous().long()  # (3, P)
    out = []
    for t in tables:  # per stain (index_select: ~3x faster than t[idx] on the CPU)
        bk = t[0].index_select(0, idx[0])
        bk += t[1].index_select(0, idx[1])
        bk += t[2].index_select(0, idx[2])
        out.append(bk)
    return out


def render(a1: torch.Tensor, a2: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """uint8 RGB ``(P, 3)`` of concentrations ``a1, a2`` (``(P,)``) with stain rows ``(2, 3)``.

    ``255 * exp(-(a1 * rows[0] + a2 * rows[1]))``, clipped and truncated as
    StainTools does; negative OD (possible after augmentation) gives 255.
    """
    od = a1[:, None] * rows[0]
    od += a2[:, None] * rows[1]
    return od.neg_().exp_().mul_(I0).add_(_TRUNCATION_EPS).clamp_(0.0, I0).to(torch.uint8)


class StainMap(PixelMap):
    """Source concentrations, scaled, re-rendered with the target matrix (fixed parameters).

    On the CPU in numpy: the memoised colour table (:class:`~algorithm.stain.pixel_map.MemoTable`)
    maps a tile's few hundred new colours at a time from the tile engine's reader threads, and
    there torch's ~40 small operations each hand the GIL over between the threads (measured: 1.1 ms a
    call in two threads, numpy 0.37 ms). Numpy rounds without fused multiply-adds, so the CPU and the
    GPU (torch) may differ by one level at truncation boundaries; the CPU's direct map, memoised table
    and full table are the same numpy code, so they agree bit for bit.
    """

    def __init__(
        self,
        source_matrix: np.ndarray,
        target_matrix: np.ndarray,
        scale: np.ndarray,
        solver: str = "lasso",
        lam: float = DEFAULT_LAMBDA,
        device: torch.device | str = "cpu",
    ):
        self.tables = correlation_tables(source_matrix, device)
        self.solve = ConcentrationSolver(source_matrix, solver, lam)
        # Fold the per-stain scale into the target rows: od_out = a1 * s1 * M1 + a2 * s2 * M2.
        scaled = np.asarray(target_matrix, np.float64) * np.asarray(scale, np.float64).reshape(2, 1)
        self.rows = torch.as_tensor(scaled, dtype=torch.float32, device=device)
        self.on_cpu = self.tables.device.type == "cpu"
        # what the numpy code reads (on the CPU views of the tensors above), taken once
        self._tables_np: NDArray[np.float32] = self.tables.cpu().numpy()
        self._rows_np: NDArray[np.float32] = self.rows.cpu().numpy()

    def apply(self, px: torch.Tensor) -> torch.Tensor:
        """Correlations by table, exact two-stain lasso, rendered with the target stains."""
        if self.on_cpu:
            return torch.from_numpy(self.apply_numpy(px.numpy()))
        b1, b2 = correlations(px, self.tables)
        a1, a2 = self.solve.solve_pair(b1, b2)
        return render(a1, a2, self.rows)

    def apply_numpy(self, px: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """:meth:`apply` in numpy (the CPU's code), numpy in and out."""
        channels = px.T
        b1, b2 = (t[0][channels[0]] + t[1][channels[1]] + t[2][channels[2]] for t in self._tables_np)
        return self._render_numpy(b1, b2)

    def apply_block(self, start: int, stop: int, device: torch.device) -> torch.Tensor:
        """Whole red ramps by broadcasting (the full-table build); other blocks as :meth:`apply`."""
        if start % 256 or stop % 256:
            return super().apply_block(start, stop, device)
        # A block of whole red ramps: correlations by broadcasting, no gathers;
        # same additions in the same order as apply(), so bit-identical.
        if self.on_cpu:
            ramps = np.arange(start >> 8, stop >> 8)
            green, blue = ramps & 255, ramps >> 8
            b1, b2 = ((t[0][None, :] + t[1][green][:, None] + t[2][blue][:, None]).reshape(-1) for t in self._tables_np)
            return torch.from_numpy(self._render_numpy(b1, b2))
        hi = torch.arange(start >> 8, stop >> 8, device=device)
        g, b = hi & 255, hi >> 8
        out = []
        for t in self.tables:
            bk = t[0][None, :] + t[1].index_select(0, g)[:, None]
            bk += t[2].index_select(0, b)[:, None]
            out.append(bk.reshape(-1))
        a1, a2 = self.solve.solve_pair(out[0], out[1])
        return render(a1, a2, self.rows)

    def _render_numpy(self, b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
        """:func:`render` of the concentrations solved from correlations, in numpy."""
        a1, a2 = self.solve.solve_pair_numpy(b1, b2)
        rows = self._rows_np
        od = a1[:, None] * rows[0] + a2[:, None] * rows[1]
        out = np.exp(-od)
        out *= np.float32(I0)
        out += np.float32(_TRUNCATION_EPS)
        return out.clip(0.0, I0).astype(np.uint8)


class StainNormaliser(Normaliser):
    """Macenko/Vahadane stain normaliser: ``fit(target)``, optionally ``fit_source``, ``transform``.

    Parameters are ``(stain_matrix (2, 3), max_concentrations (2,))``, H first.

    ``statistics`` (see :mod:`algorithm.stain.base`) chooses the pixels of the
    99th-percentile concentrations. StainTools takes every pixel, glass
    included, so an image that is mostly (tinted) glass gets a tiny percentile
    and is rendered far too dark; ``statistics="tissue"`` avoids that per
    image too, at the cost of parity.
    """

    def __init__(
        self,
        extractor: StainExtractor,
        solver: str = "lasso",
        lam: float = DEFAULT_LAMBDA,
        percentile: float = 99.0,
        use_lut: bool | None = None,
        statistics: str = "auto",
    ):
        super().__init__(use_lut, statistics)
        self.extractor = extractor
        self.solver = check_solver(solver)
        self.lam = float(lam)
        self.percentile = float(percentile)
        self.method = extractor.name

    def estimate(self, rgb: ImageLike, tissue_only: bool = False) -> Params:
        """Stain matrix ``(2, 3)`` and 99th-percentile concentrations ``(2,)`` of uint8 RGB.

        The matrix comes from the tissue pixels, the percentiles from all the
        pixels given (StainTools) or, with ``tissue_only``, the tissue ones.
        Raises StainFitError.
        """
        px = to_numpy_pixels(rgb)
        matrix = self.extractor.get_stain_matrix(px)
        return matrix, self._max_concentrations(px, matrix, tissue_only)

    def fit(self, target: ImageLike) -> StainNormaliser:
        """Learn the target's stain matrix (once) and its percentiles for both modes."""
        px = to_numpy_pixels(target)
        matrix = self.extractor.get_stain_matrix(px)
        per_image = (matrix, self._max_concentrations(px, matrix, self._tissue_only(False)))
        slide = (matrix, self._max_concentrations(px, matrix, self._tissue_only(True)))
        self._set_target(per_image, slide)
        return self

    def _max_concentrations(self, px: np.ndarray, matrix: np.ndarray, tissue_only: bool) -> np.ndarray:
        if tissue_only:
            px = px[luminosity_tissue_mask(px, self.extractor.luminosity_threshold)]
        conc = get_concentrations(rgb_to_od(px), matrix, self.solver, self.lam)
        max_c = np.percentile(conc, self.percentile, axis=0)
        if not np.all(max_c > MIN_MAX_CONCENTRATION):
            raise StainFitError(
                f"{self.method} stain fit: the {self.percentile:g}th-percentile concentrations are "
                f"{np.round(max_c, 5).tolist()} (H, E); a stain is (almost) absent from the {len(px)} pixels"
            )
        return max_c

    def _make_map(self, source: Params, target: Params, device: torch.device) -> StainMap:
        matrix, max_c = source
        return StainMap(matrix, target[0], target[1] / max_c, self.solver, self.lam, device)

    def set_target(
        self,
        stain_matrix: np.ndarray,
        max_concentrations: np.ndarray,
        slide_max_concentrations: np.ndarray | None = None,
    ) -> None:
        """Set the target directly (saved parameters, or parity with another tool).

        ``slide_max_concentrations`` (default: the same) are the percentiles the
        per-slide mode uses (over the target's tissue pixels with "auto").
        """
        per_image = _checked(stain_matrix, max_concentrations)
        slide = None
        if slide_max_concentrations is not None:
            slide = _checked(stain_matrix, slide_max_concentrations)
        self._set_target(per_image, slide)

    def set_source(self, stain_matrix: np.ndarray, max_concentrations: np.ndarray) -> None:
        """Set the source directly (saved parameters, or parity with another tool)."""
        self.source = _checked(stain_matrix, max_concentrations)
        self._invalidate()

    @property
    def stain_matrix_target(self) -> np.ndarray | None:
        """The target's stain matrix ``(2, 3)`` (H, E), or None before ``fit``."""
        return None if self.target is None else self.target[0]

    @property
    def max_concentrations_target(self) -> np.ndarray | None:
        """The target's 99th-percentile concentrations ``(2,)``, or None before ``fit``."""
        return None if self.target is None else self.target[1]

    @property
    def stain_matrix_source(self) -> np.ndarray | None:
        """The slide's (source) stain matrix, or None before ``fit_source``."""
        return None if self.source is None else self.source[0]

    @property
    def max_concentrations_source(self) -> np.ndarray | None:
        """The slide's 99th-percentile concentrations, or None before ``fit_source``."""
        return None if self.source is None else self.source[1]


def _checked(stain_matrix: np.ndarray, max_concentrations: np.ndarray) -> Params:
    m = np.asarray(stain_matrix, dtype=np.float64)
    c = np.asarray(max_concentrations, dtype=np.float64)
    if m.size != 6 or c.size != 2:
        raise InputShapeError(
            f"expected a 2 x 3 stain matrix (H, E rows) and 2 max concentrations, got shapes {m.shape} and {c.shape}"
        )
    m, c = m.reshape(2, 3), c.reshape(2)
    if m[0, 0] < m[1, 0]:  # H first; keep each percentile with its stain
        m, c = m[[1, 0]], c[[1, 0]]
    m = order_and_normalise(m)
    if not np.all(np.isfinite(c)) or not np.all(c > MIN_MAX_CONCENTRATION):
        raise StainFitError(f"max concentrations must be finite and > {MIN_MAX_CONCENTRATION}, got {c.tolist()}")
    return m, c
