"""Coordinate-hashed randomness: value noise and per-item random numbers.

Everything random in a synthetic slide is a pure function of (seed, position):
a counter-based hash of integer coordinates replaces a stateful generator, so
any tile can be rendered alone, in any order, and agrees with its neighbours.

* :func:`hash_uniform` gives independent uniforms in [0, 1) for integer keys
  (lattice points, cell-grid indices, parameter numbers).
* :func:`value_noise_grid` evaluates smooth value noise on a rectangular grid
  of pixel centres: the lattice values are hashed once and interpolated
  separably (rows, then columns), far cheaper than per-pixel hashing.
* :func:`value_noise_points` evaluates the same function at scattered points.
* :func:`fbm_grid` / :func:`fbm_points` sum octaves; octaves finer than the
  output pixel are replaced by their mean (anti-aliasing for pyramid levels).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_KX = np.uint64(0x9E3779B97F4A7C15)
_KY = np.uint64(0xC2B2AE3D27D4EB4F)
_KZ = np.uint64(0x165667B19E3779F9)


@lru_cache(maxsize=4096)
def derive_seed(seed: int, *keys: object) -> int:
    """A 64-bit seed for the named stream ``keys`` of slide ``seed`` (stable across runs)."""
    text = repr((int(seed),) + tuple(keys)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def _mix(h: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (in place on a uint64 array)."""
    h ^= h >> np.uint64(30)
    h *= _M1
    h ^= h >> np.uint64(27)
    h *= _M2
    h ^= h >> np.uint64(31)
    return h


def hash_uniform(seed: int, ix: np.ndarray | int, iy: np.ndarray | int, k: np.ndarray | int = 0) -> np.ndarray:
    """Uniform float64 in [0, 1) for integer keys ``(ix, iy, k)`` (broadcast) under ``seed``."""
    ix = np.asarray(ix, dtype=np.int64).astype(np.uint64)
    iy = np.asarray(iy, dtype=np.int64).astype(np.uint64)
    kk = np.asarray(k, dtype=np.int64).astype(np.uint64)
    ix, iy, kk = np.broadcast_arrays(ix, iy, kk)
    with np.errstate(over="ignore"):
        h = np.uint64(seed & 0xFFFFFFFFFFFFFFFF) ^ (ix * _KX)
        h = _mix(h)
        h ^= iy * _KY
        h = _mix(h)
        h ^= kk * _KZ
        h = _mix(h)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _fade(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def _axis(coords: np.ndarray, spacing: float, smooth: bool) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Lattice cell (relative to ``first``), weight of the right neighbour, ``first``, lattice count."""
    f = np.asarray(coords, dtype=np.float64) / spacing
    i0 = np.floor(f)
    t = f - i0
    if smooth:
        t = _fade(t)
    i0 = i0.astype(np.int64)
    first = int(i0.min())
    return i0 - first, t.astype(np.float32), first, int(i0.max()) - first + 2


def _interpolate(lat: np.ndarray, ix: np.ndarray, tx: np.ndarray, iy: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """Separable two-point interpolation of lattice values ``lat`` (my, mx) to (len(iy), len(ix)).

    Gathers and lerps instead of matrix products: no BLAS threads (the kit
    shares few cores) and bit-identical results whatever the grid size.
    """
    lat = np.asarray(lat, dtype=np.float32)
    left = lat[:, ix]
    row = left + (lat[:, ix + 1] - left) * tx[None, :]
    top = row[iy]
    out = row[iy + 1]
    out -= top
    out *= ty[:, None]
    out += top
    return out


def value_noise_grid(seed: int, xs: np.ndarray, ys: np.ndarray, spacing: float) -> np.ndarray:
    """Value noise in [0, 1] at the grid ``ys x xs`` (level-0 coordinates), float32 (len(ys), len(xs))."""
    ix, tx, fx, mx = _axis(xs, spacing, True)
    iy, ty, fy, my = _axis(ys, spacing, True)
    lat = hash_uniform(seed, np.arange(fx, fx + mx)[None, :], np.arange(fy, fy + my)[:, None])
    return _interpolate(lat, ix, tx, iy, ty)


def value_noise_points(seed: int, x: np.ndarray, y: np.ndarray, spacing: float) -> np.ndarray:
    """The same noise as :func:`value_noise_grid`, at scattered points (float32, shape of ``x``)."""
    fx = np.asarray(x, dtype=np.float64) / spacing
    fy = np.asarray(y, dtype=np.float64) / spacing
    ix = np.floor(fx)
    iy = np.floor(fy)
    tx = _fade(fx - ix)
    ty = _fade(fy - iy)
    ix = ix.astype(np.int64)
    iy = iy.astype(np.int64)
    v00 = hash_uniform(seed, ix, iy)
    v10 = hash_uniform(seed, ix + 1, iy)
    v01 = hash_uniform(seed, ix, iy + 1)
    v11 = hash_uniform(seed, ix + 1, iy + 1)
    top = v00 + (v10 - v00) * tx
    bottom = v01 + (v11 - v01) * tx
    return (top + (bottom - top) * ty).astype(np.float32)


def _octaves(spacing: float, octaves: int, gain: float, downsample: float) -> list[tuple[int, float, float, float]]:
    """(octave index, spacing, weight, anti-alias factor) for each octave."""
    total = sum(gain**k for k in range(octaves))
    out = []
    for k in range(octaves):
        s = spacing / (2.0**k)
        # Full contrast when the lattice step spans >= 2 output pixels, none at <= 1.
        aa = float(np.clip(s / downsample - 1.0, 0.0, 1.0))
        out.append((k, s, gain**k / total, aa))
    return out


def fbm_grid(
    seed: int,
    xs: np.ndarray,
    ys: np.ndarray,
    spacing: float,
    octaves: int = 3,
    gain: float = 0.5,
    downsample: float = 1.0,
    lattice: bool = True,
) -> np.ndarray:
    """Fractal sum of value noise on a grid, in [0, 1], mean 0.5; anti-aliased for ``downsample``.

    When the finest octave spans many output pixels the sum is evaluated on a
    global lattice (step a power of two, >= 4 samples per finest noise cell)
    and interpolated bilinearly: one full-size pass instead of one per octave.
    """
    step = lattice_step(spacing, octaves, downsample)
    if lattice and step:
        return lattice_field_grid(
            lambda lx, ly: fbm_grid(seed, lx[0], ly[:, 0], spacing, octaves, gain, downsample, False), xs, ys, step
        )
    out = np.zeros((len(ys), len(xs)), dtype=np.float32)
    constant = 0.0
    for k, s, w, aa in _octaves(spacing, octaves, gain, downsample):
        constant += w * (1.0 - aa) * 0.5
        if aa > 0.0:
            out += (w * aa) * value_noise_grid(derive_seed(seed, "octave", k), xs, ys, s)
    if constant:
        out += np.float32(constant)
    return out


def lattice_step(spacing: float, octaves: int, downsample: float) -> float:
    """Step of the global lattice :func:`fbm_grid` interpolates from (0: evaluated directly)."""
    finest = spacing / 2.0 ** (octaves - 1)
    step = 2.0 ** math.floor(math.log2(finest / 4.0)) if finest >= 8.0 else 0.0
    return step if step >= 2.0 * downsample else 0.0


def fbm_points(
    seed: int,
    x: np.ndarray,
    y: np.ndarray,
    spacing: float,
    octaves: int = 3,
    gain: float = 0.5,
    downsample: float = 1.0,
    lattice: bool = False,
) -> np.ndarray:
    """:func:`fbm_grid` at scattered points.

    With ``lattice`` the value is interpolated from the same global lattice as
    :func:`fbm_grid` uses (identical results, far fewer hashes for many points
    in a small area); without it, the noise is evaluated exactly at each point.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    step = lattice_step(spacing, octaves, downsample) if lattice else 0.0
    if step and x.size:
        ix = np.floor(x / step)
        iy = np.floor(y / step)
        fx, fy = int(ix.min()), int(iy.min())
        nx, ny = int(ix.max()) - fx + 2, int(iy.max()) - fy + 2
        nodes = fbm_grid(
            seed,
            np.arange(fx, fx + nx) * step,
            np.arange(fy, fy + ny) * step,
            spacing,
            octaves,
            gain,
            downsample,
            False,
        )
        tx = (x / step - ix).astype(np.float32)
        ty = (y / step - iy).astype(np.float32)
        i = (ix - fx).astype(np.int64)
        j = (iy - fy).astype(np.int64)
        top = nodes[j, i] + (nodes[j, i + 1] - nodes[j, i]) * tx
        bottom = nodes[j + 1, i] + (nodes[j + 1, i + 1] - nodes[j + 1, i]) * tx
        return top + (bottom - top) * ty
    out = np.zeros(x.shape, dtype=np.float32)
    constant = 0.0
    for k, s, w, aa in _octaves(spacing, octaves, gain, downsample):
        constant += w * (1.0 - aa) * 0.5
        if aa > 0.0:
            out += (w * aa) * value_noise_points(derive_seed(seed, "octave", k), x, y, s)
    return out + np.float32(constant)


def lattice_field_grid(
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray], xs: np.ndarray, ys: np.ndarray, step: float
) -> np.ndarray:
    """Evaluate a smooth field ``fn(X, Y)`` on a global lattice of step ``step`` and
    interpolate it (bilinearly) to the grid ``ys x xs``.

    The lattice is anchored at level-0 multiples of ``step``, so the result is a
    pure function of position (seamless across tiles) while ``fn`` is evaluated
    at ~1/step^2 of the pixels. ``fn`` receives ``X`` of shape (1, nx) and ``Y``
    of shape (ny, 1).
    """
    ix, tx, fx, mx = _axis(xs, step, False)
    iy, ty, fy, my = _axis(ys, step, False)
    lx = np.arange(fx, fx + mx, dtype=np.float64) * step
    ly = np.arange(fy, fy + my, dtype=np.float64) * step
    lat = np.broadcast_to(np.asarray(fn(lx[None, :], ly[:, None]), dtype=np.float32), (my, mx))
    return _interpolate(lat, ix, tx, iy, ty)
