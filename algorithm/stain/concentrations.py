"""Stain concentrations from optical density with a fixed 2 x 3 stain matrix.

Two solvers, both vectorised torch on the tensors' device:

``"lasso"`` (default, StainTools 2.1.2 uses it for Macenko and Vahadane alike):
    per pixel ``min_a 0.5 * ||od - M^T a||^2 + lam * ||a||_1`` with ``a >= 0``,
    ``lam = 0.01``, what ``spams.lasso(mode=2, pos=True)`` solves. With two
    stains this is a 2-variable convex QP whose optimum is one of three
    candidates (both stains active, only H, only E), each closed-form; the KKT
    conditions pick it. So this is the exact lasso solution, no iterations, at
    the cost of a pseudo-inverse.
``"pinv"``:
    unregularised least squares ``a = (M M^T)^-1 M od`` (StainTools 2.0's
    Macenko, TIAToolbox), negative concentrations clamped to 0.

Both start from the correlations ``b = M od`` (``(P, 2)``), which callers
compute cheaply with per-channel tables (see :mod:`algorithm.stain.stain_normaliser`).
"""

from __future__ import annotations

import numpy as np
import torch

from algorithm.errors import ConfigError
from algorithm.stain.errors import InputShapeError

SOLVERS = ("lasso", "pinv")
CHUNK = 8192  # pixels per step on the CPU
DEFAULT_LAMBDA = 0.01


def check_solver(solver: str) -> str:
    """Validate a solver name (raises ConfigError naming the choices)."""
    name = str(solver).lower()
    if name not in SOLVERS:
        raise ConfigError(f"unknown concentration solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    return name


class ConcentrationSolver:
    """Solves concentrations for one fixed stain matrix (its Gram matrix precomputed)."""

    def __init__(self, stain_matrix: torch.Tensor | np.ndarray, solver: str = "lasso", lam: float = DEFAULT_LAMBDA):
        self.solver = check_solver(solver)
        self.lam = float(lam)
        m = np.asarray(torch.as_tensor(stain_matrix).detach().cpu().double().numpy())
        if m.shape != (2, 3):
            raise InputShapeError(f"stain matrix must be 2 x 3 (H, E rows), got {m.shape}")
        g = m @ m.T
        self.g11, self.g12, self.g22 = float(g[0, 0]), float(g[0, 1]), float(g[1, 1])
        self.det = self.g11 * self.g22 - self.g12 * self.g12
        # Stains less than ~0.1 degree apart (or a zero row) leave no unique interior solution.
        self.singular = not (self.g11 > 0 and self.g22 > 0 and self.det > 1e-6 * self.g11 * self.g22)

    def __call__(self, b: torch.Tensor) -> torch.Tensor:
        """Concentrations ``(P, 2)`` from correlations ``b = od @ M.T`` (``(P, 2)``)."""
        a1, a2 = self.solve_pair(b[:, 0].contiguous(), b[:, 1].contiguous())
        return torch.stack((a1, a2), dim=1)

    def solve_pair(self, b1: torch.Tensor, b2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """H and E concentrations ``(P,)`` from the correlations with each stain ``(P,)``.

        ``b1`` and ``b2`` are overwritten (temporaries in the hot path); keep
        them contiguous for speed. Never returns NaN/inf for finite input.
        """
        g11, g12, g22, det = self.g11, self.g12, self.g22, self.det
        if self.solver == "pinv":
            if self.singular:
                # Collinear stains: attribute everything to the first one.
                a1 = b1.mul_(1.0 / g11).clamp_(min=0) if g11 > 0 else torch.zeros_like(b1)
                return a1, torch.zeros_like(b2)
            a1 = torch.add(b1 * (g22 / det), b2, alpha=-g12 / det).clamp_(min=0)
            a2 = torch.add(b2.mul_(g11 / det), b1, alpha=-g12 / det).clamp_(min=0)
            return a1, a2

        # Lasso: shift by the penalty, r = b - lam; stationarity is G a = r.
        r1 = b1.sub_(self.lam)
        r2 = b2.sub_(self.lam)
        f1 = (r1 * (1.0 / g11)).clamp_(min=0) if g11 > 0 else torch.zeros_like(r1)  # best with a2 = 0
        f2 = (r2 * (1.0 / g22)).clamp_(min=0) if g22 > 0 else torch.zeros_like(r2)  # best with a1 = 0
        # (f1, 0) is optimal iff the a2-gradient there is >= 0: g12 * f1 - r2 >= 0;
        # otherwise, with no interior optimum, (0, f2) is.
        use_f1 = (f1 * g12) >= r2
        a1 = f1.mul_(use_f1)
        a2 = f2.mul_(use_f1.logical_not_())
        if not self.singular:
            i1 = torch.add(r1 * (g22 / det), r2, alpha=-g12 / det)
            i2 = torch.add(r2 * (g11 / det), r1, alpha=-g12 / det)
            interior = (i1 >= 0).logical_and_(i2 >= 0)
            a1 = torch.where(interior, i1, a1)
            a2 = torch.where(interior, i2, a2)
        return a1, a2

    def solve_pair_numpy(self, b1: np.ndarray, b2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`solve_pair` for float32 numpy arrays (the CPU stain map's), leaving its inputs alone.

        The same candidates and choice; the interior solution is two products and a sum where torch fuses
        one multiply-add, so a concentration may differ from torch's in its last bit.
        """
        g11, g12, g22, det, f32 = self.g11, self.g12, self.g22, self.det, np.float32
        if self.solver == "pinv":
            if self.singular:
                a1 = (b1 * f32(1.0 / g11)).clip(min=0) if g11 > 0 else np.zeros_like(b1)
                return a1, np.zeros_like(b2)
            a1 = (b1 * f32(g22 / det) + b2 * f32(-g12 / det)).clip(min=0)
            return a1, (b2 * f32(g11 / det) + b1 * f32(-g12 / det)).clip(min=0)
        r1, r2 = b1 - f32(self.lam), b2 - f32(self.lam)
        f1 = (r1 * f32(1.0 / g11)).clip(min=0) if g11 > 0 else np.zeros_like(r1)
        f2 = (r2 * f32(1.0 / g22)).clip(min=0) if g22 > 0 else np.zeros_like(r2)
        use_f1 = f1 * f32(g12) >= r2
        a1, a2 = f1 * use_f1, f2 * ~use_f1
        if self.singular:
            return a1, a2
        i1 = r1 * f32(g22 / det) + r2 * f32(-g12 / det)
        i2 = r2 * f32(g11 / det) + r1 * f32(-g12 / det)
        interior = (i1 >= 0) & (i2 >= 0)
        return np.where(interior, i1, a1), np.where(interior, i2, a2)


def concentrations_from_correlations(
    b: torch.Tensor,
    stain_matrix: torch.Tensor | np.ndarray,
    solver: str = "lasso",
    lam: float = DEFAULT_LAMBDA,
) -> torch.Tensor:
    """Concentrations ``(P, 2)`` from correlations ``b = od @ M.T``."""
    return ConcentrationSolver(stain_matrix, solver, lam)(b)


def get_concentrations(
    od: torch.Tensor | np.ndarray,
    stain_matrix: torch.Tensor | np.ndarray,
    solver: str = "lasso",
    lam: float = DEFAULT_LAMBDA,
) -> torch.Tensor | np.ndarray:
    """Concentrations ``(P, 2)`` of optical densities ``(P, 3)`` for a ``(2, 3)`` stain matrix.

    numpy in (float64) gives numpy out; torch keeps its dtype and device.
    """
    is_numpy = not isinstance(od, torch.Tensor)
    od_t = od if isinstance(od, torch.Tensor) else torch.as_tensor(np.asarray(od, dtype=np.float64))
    m = torch.as_tensor(stain_matrix, dtype=od_t.dtype, device=od_t.device)
    if m.shape != (2, 3):
        raise InputShapeError(f"stain matrix must be 2 x 3 (H, E rows), got {tuple(m.shape)}")
    solver_ = ConcentrationSolver(m, solver, lam)
    od_t = od_t.reshape(-1, 3)
    out = torch.empty((od_t.shape[0], 2), dtype=od_t.dtype, device=od_t.device)
    # Small chunks on the CPU: ops run inline, no OpenMP barriers (see pixel_map.CPU_CHUNK).
    step = CHUNK if od_t.device.type == "cpu" else max(od_t.shape[0], 1)
    for s in range(0, od_t.shape[0], step):
        b = m @ od_t[s : s + step].T  # (2, n)
        a1, a2 = solver_.solve_pair(b[0], b[1])
        out[s : s + step, 0] = a1
        out[s : s + step, 1] = a2
    return out.numpy() if is_numpy else out
