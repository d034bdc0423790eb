"""Vahadane stain-matrix extraction (Vahadane et al., IEEE TMI 2016) without SPAMS.

StainTools calls ``spams.trainDL(K=2, lambda1=0.1, mode=2, posD=True,
posAlpha=True, modeD=0)``: sparse non-negative dictionary learning,

    min_{D, A}  sum_i 0.5 * ||x_i - D a_i||^2 + lambda * ||a_i||_1
    s.t. a_i >= 0, D >= 0, ||d_j||_2 <= 1,

on the tissue ODs ``x_i``, solved online for one second of wall time from a
random start (so it is neither fast nor reproducible). Here the same objective
is minimised in batch by alternating exact steps:

- codes: the non-negative lasso per pixel, closed form for two atoms
  (:mod:`algorithm.stain.concentrations`);
- dictionary: Mairal et al.'s block-coordinate update from the sufficient
  statistics ``A^T A`` and ``X^T A`` (the update SPAMS itself uses), projected
  onto ``D >= 0, ||d_j|| <= 1``.

The start is the (non-negative part of the) Macenko directions, so the result
is deterministic; the seed only drives subsampling and re-seeding of an atom
that no pixel uses.
"""

from __future__ import annotations

import numpy as np
import torch

from algorithm.stain.concentrations import ConcentrationSolver
from algorithm.stain.extractor import DEFAULT_MIN_TISSUE_PIXELS, StainExtractor
from algorithm.stain.macenko import macenko_matrix


class VahadaneExtractor(StainExtractor):
    """Sparse NMF stain extraction; ``regularizer`` is SPAMS' lambda1 (0.1 in StainTools)."""

    name = "vahadane"

    def __init__(
        self,
        luminosity_threshold: float = 0.8,
        regularizer: float = 0.1,
        min_tissue_pixels: int = DEFAULT_MIN_TISSUE_PIXELS,
        max_pixels: int = 100_000,
        max_iter: int = 300,
        tol: float = 1e-5,
        seed: int = 0,
    ):
        super().__init__(luminosity_threshold, min_tissue_pixels)
        self.regularizer = float(regularizer)
        self.max_pixels = int(max_pixels)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.seed = int(seed)
        self.n_iter_ = 0  # iterations the last fit took (diagnostics)

    def _fit_od(self, od: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        if len(od) > self.max_pixels:
            od = od[rng.choice(len(od), self.max_pixels, replace=False)]
        d, self.n_iter_ = sparse_nmf_dictionary(od, self.regularizer, self.max_iter, self.tol, rng)
        return d


def _initial_dictionary(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    try:
        d = np.maximum(macenko_matrix(x), 0.0)
    except (np.linalg.LinAlgError, ValueError):
        d = np.zeros((2, 3))
    for j in range(2):
        if not np.all(np.isfinite(d[j])) or np.linalg.norm(d[j]) < 1e-6:
            d[j] = x[rng.integers(len(x))]
    norms = np.linalg.norm(d, axis=1, keepdims=True)
    return d / np.maximum(norms, 1e-12)


def _code_statistics(
    x: torch.Tensor, d: torch.Tensor, regularizer: float, chunk: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse codes for dictionary ``d`` and their statistics ``A^T A`` (2, 2), ``X^T A`` (3, 2).

    Processed in small chunks: each op then runs inline, below torch's
    parallel grain size, which on a shared, busy CPU is many times faster than
    OpenMP-parallel ops over the whole sample (see pixel_map.CPU_CHUNK).
    """
    solver = ConcentrationSolver(d, "lasso", regularizer)
    ata = torch.zeros((2, 2), dtype=x.dtype)
    xta = torch.zeros((3, 2), dtype=x.dtype)
    for s in range(0, x.shape[1], chunk):
        xc = x[:, s : s + chunk]
        b = d @ xc  # (2, n) correlations with each atom
        a = torch.stack(solver.solve_pair(b[0], b[1]))  # (2, n) codes
        ata += a @ a.T
        xta += xc @ a.T
    return ata, xta


def sparse_nmf_dictionary(
    od: np.ndarray,
    regularizer: float = 0.1,
    max_iter: int = 300,
    tol: float = 1e-5,
    rng: np.random.Generator | None = None,
    update_passes: int = 3,
    init: np.ndarray | None = None,
    chunk: int = 4096,
) -> tuple[np.ndarray, int]:
    """Two-atom non-negative sparse dictionary (rows are atoms) of OD ``(N, 3)``.

    Returns the dictionary ``(2, 3)`` (rows have norm <= 1, not yet ordered) and
    the number of alternations run. Stops when no entry moves more than ``tol``.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    x = torch.as_tensor(np.ascontiguousarray(od.T, dtype=np.float64))  # (3, N): contiguous rows
    d = torch.as_tensor(np.array(init, dtype=np.float64) if init is not None else _initial_dictionary(od, rng))
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (returned: the iterations taken)
        d_old = d.clone()
        ata, xta = _code_statistics(x, d, regularizer, chunk)
        for _ in range(update_passes):
            for j in range(2):
                if ata[j, j] <= 1e-10:
                    # Atom unused: restart it at a random pixel (SPAMS does likewise).
                    u = x[:, int(rng.integers(x.shape[1]))].clone()
                else:
                    u = d[j] + (xta[:, j] - d.T @ ata[:, j]) / ata[j, j]
                u = u.clamp(min=0.0)
                d[j] = u / max(float(torch.linalg.vector_norm(u)), 1.0)
        if float((d - d_old).abs().max()) < tol:
            break
    return d.numpy().copy(), n_iter
