"""The one reader interface every slide format is seen through.

Coordinates are level-0 pixels ``(x, y)``, sizes ``(width, height)``; images are
RGB ``uint8`` arrays ``(H, W, 3)``. Regions that reach past the slide's edge are
padded with white, so callers never special-case borders. Subclasses implement
``_read_level`` for an in-bounds rectangle in a level's own pixels (the level's
stored pixels, never interpolated) and release their file handles in
``_release``.

The public methods check their arguments here, once for every reader: a bad
``size``, ``level``, ``mpp`` or ``max_size`` is one ConfigError naming the
argument and the value (numpy's numbers count as numbers), and any read after
:meth:`SlideReader.close` (which may be called again) is one SlideError, "the
slide is closed".
"""

from __future__ import annotations

import math
import numbers
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
from numpy.typing import ArrayLike, NDArray

from algorithm.errors import ConfigError, SlideError
from algorithm.slide import units
from algorithm.slide.resample import region_size, resample
from algorithm.slide.stored_tiles import WHITE, StoredTiles
from algorithm.slide.thumbnail import thumbnail_size, thumbnail_strips

# Physically plausible microns per pixel for microscopy (40x ~ 0.12, 1x ~ 10,
# low-resolution masks up to ~100). Outside it the tag is a screen default
# (72 dpi = 352.8 um/px) or garbage, which we treat as "no resolution".
PLAUSIBLE_MPP = (0.01, 100.0)
# the largest region one read returns (RGB bytes): 4 GiB, a 37,837 px square; larger is a mistake or a tiling job
MAX_REGION_BYTES = 4 << 30
# how a user gives a resolution the file does not: the commands' option, or the library's argument
GIVE_MPP = "give it explicitly (--mpp on the command line, open_slide(path, mpp=...) in Python)"


def plausible_mpp(value: float) -> bool:
    """Whether ``value`` can be a microscope's microns per pixel: finite and within :data:`PLAUSIBLE_MPP`."""
    return math.isfinite(value) and PLAUSIBLE_MPP[0] <= value <= PLAUSIBLE_MPP[1]


def is_number(value: object) -> TypeGuard[float]:
    """A real number as an argument: Python's or numpy's (``np.float32(0.5)``), not a bool or a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_whole(value: object) -> TypeGuard[int]:
    """A whole number as an argument (Python's or numpy's ``int``), not a bool, a float or a string."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_pair(value: object) -> TypeGuard[Sequence[Any]]:
    """Two of something, as a ``(x, y)`` argument: a tuple, list or array of length 2 (not a string)."""
    return isinstance(value, (tuple, list, np.ndarray)) and np.ndim(value) == 1 and len(value) == 2


def checked_pixels(name: str, value: object) -> tuple[int, int]:
    """``value`` as a ``(width, height)`` of positive whole numbers of pixels; ConfigError naming ``name``."""
    if not (is_pair(value) and all(is_whole(v) and v > 0 for v in value)):
        raise ConfigError(f"{name} must be a (width, height) pair of positive whole numbers of pixels, got {value!r}")
    return int(value[0]), int(value[1])


def _check_bytes(size: tuple[int, int]) -> tuple[int, int]:
    """``size`` as it is, or a ConfigError when its RGB pixels exceed :data:`MAX_REGION_BYTES` (before numpy
    tries to allocate them)."""
    needed = size[0] * size[1] * 3
    if needed > MAX_REGION_BYTES:
        raise ConfigError(
            f"size {size} asks for {needed / 2**30:.1f} GiB in one read (at most {MAX_REGION_BYTES >> 30} GiB): "
            "read it in tiles (algorithm.tiling) or at a coarser resolution, or shrink it with get_thumbnail"
        )
    return size


def _check_location(location: object) -> None:
    if not (is_pair(location) and all(is_number(v) and math.isfinite(v) for v in location)):
        raise ConfigError(f"location must be an (x, y) pair of level-0 pixel coordinates, got {location!r}")


class SlideReader(ABC):
    """A whole-slide image opened for region reads."""

    backend: str = "?"
    concurrent_reads: bool = False  # whether read_region may be called from several threads at once
    # the coarsest resolution the file's own metadata is believed at (a picture's dots per inch: less)
    stated_mpp_max: float = PLAUSIBLE_MPP[1]

    def __init__(self, path: Path, mpp_override: tuple[float, float] | None = None) -> None:
        self.path = Path(path)
        self._mpp_override = mpp_override
        self._closed = False
        self._native: StoredTiles | None = None
        self._native_opened = False
        self._native_lock = threading.Lock()

    # --- geometry -------------------------------------------------------
    @property
    @abstractmethod
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """``(width, height)`` of every level, level 0 first."""

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        """Level 0's size over each level's (mean of x and y), level 0 first; readers with exact factors override."""
        w0, h0 = self.dimensions
        return tuple((w0 / w + h0 / h) / 2.0 for w, h in self.level_dimensions)

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level 0's ``(width, height)``: the coordinate space of every region read."""
        return self.level_dimensions[0]

    @property
    def level_count(self) -> int:
        """How many pyramid levels the file stores (1 for a flat image)."""
        return len(self.level_dimensions)

    def best_level_for_downsample(self, downsample: float) -> int:
        """The highest-resolution level not finer than needed (OpenSlide's rule)."""
        best = 0
        for level, ds in enumerate(self.level_downsamples):
            if ds <= downsample * (1 + 1e-6):
                best = level
        return best

    # --- physical size ----------------------------------------------------
    @abstractmethod
    def _native_mpp(self) -> tuple[float, float] | None:
        """Microns per pixel from the file's metadata, or None."""

    @property
    def has_mpp(self) -> bool:
        """Whether :attr:`mpp` is known and plausible (given or in the file), so physical units can be used."""
        try:
            _ = self.mpp  # raises SlideError when there is none
        except SlideError:
            return False
        return True

    def supply_mpp(self, mpp: tuple[float, float]) -> None:
        """Use ``mpp`` from now on, as if given when opened: for a file without a plausible resolution of its own."""
        self._mpp_override = mpp

    @property
    def mpp(self) -> tuple[float, float]:
        """Level-0 microns per pixel ``(x, y)``; raises SlideError if the file has none."""
        if self._mpp_override is not None:
            return self._mpp_override
        mpp = self._native_mpp()
        if mpp is None:
            raise SlideError(f"{self.path}: the file has no resolution information (microns per pixel); {GIVE_MPP}")
        if not all(plausible_mpp(v) and v <= self.stated_mpp_max for v in mpp):
            raise SlideError(
                f"{self.path}: its resolution tag says {mpp[0]:.4g} x {mpp[1]:.4g} um per pixel, "
                f"which is not a microscope's (likely a default); {GIVE_MPP}"
            )
        return mpp

    def pixels_to_mm(self, points_px: ArrayLike) -> NDArray[np.float64]:
        """Level-0 pixel ``(x, y)`` coordinates in millimetres, at this slide's resolution."""
        return units.pixels_to_mm(points_px, self.mpp)

    def mm_to_pixels(self, points_mm: ArrayLike) -> NDArray[np.float64]:
        """Millimetre ``(x, y)`` coordinates in level-0 pixels, at this slide's resolution."""
        return units.mm_to_pixels(points_mm, self.mpp)

    def downsample_for(self, mpp: float) -> float:
        """Level-0 pixels per pixel read at ``mpp`` microns per pixel."""
        return units.downsample_for(mpp, self.mpp)

    def mpp_at(self, downsample: float) -> float:
        """Microns per pixel of pixels ``downsample`` level-0 pixels wide."""
        return units.mpp_at(downsample, self.mpp)

    def level_for(self, mpp: float) -> int:
        """The level to read ``mpp`` from: the coarsest at least as fine (OpenSlide's rule)."""
        return self.best_level_for_downsample(self.downsample_for(mpp))

    # --- pixels -----------------------------------------------------------
    @abstractmethod
    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> NDArray[np.uint8]:
        """Read an in-bounds rectangle in ``level``'s pixels as RGB uint8."""

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> NDArray[np.uint8]:
        """Read ``size`` pixels of ``level`` whose top-left is ``location`` in level-0 pixels: the level's
        pixel that holds ``location`` and the ones after it, as stored (not interpolated)."""
        self._check_open()
        self._check_level(level)
        width, height = _check_bytes(checked_pixels("size", size))
        _check_location(location)
        ds = self.level_downsamples[level]
        lx = int(math.floor(location[0] / ds))
        ly = int(math.floor(location[1] / ds))
        lw, lh = self.level_dimensions[level]
        out = np.full((height, width, 3), WHITE, dtype=np.uint8)
        x0, y0 = max(lx, 0), max(ly, 0)
        x1, y1 = min(lx + width, lw), min(ly + height, lh)
        if x1 > x0 and y1 > y0:
            out[y0 - ly : y1 - ly, x0 - lx : x1 - lx] = self._read_level(level, x0, y0, x1 - x0, y1 - y0)
        return out

    def read_rect(self, location: tuple[int, int], size: tuple[int, int], mpp: float) -> NDArray[np.uint8]:
        """``size`` pixels ``(w, h)`` at ``mpp`` microns per pixel, from level-0 ``location`` (TIAToolbox's
        ``read_rect(..., resolution=mpp, units="mpp")``): the best level read, then resampled."""
        self._check_open()
        size = checked_pixels("size", size)
        if not (is_number(mpp) and math.isfinite(mpp) and mpp > 0):
            raise ConfigError(f"mpp must be a positive number of microns per pixel, got {mpp!r}")
        ds = self.downsample_for(float(mpp))
        extent = (max(1, int(round(size[0] * ds))), max(1, int(round(size[1] * ds))))
        return self.read_extent(location, extent, size)

    def read_extent(
        self, location: tuple[int, int], extent: tuple[int, int], size: tuple[int, int], level: int | None = None
    ) -> NDArray[np.uint8]:
        """``extent`` level-0 pixels from ``location``, delivered as ``size`` pixels: read at ``level`` (default
        the coarsest still as fine as needed), then area-averaged down or interpolated up to ``size``."""
        self._check_open()
        extent, size = checked_pixels("extent", extent), _check_bytes(checked_pixels("size", size))
        if level is None:
            level = self.best_level_for_downsample(extent[0] / size[0])
        self._check_level(level)
        ds = self.level_downsamples[level]
        pixels = self.read_region(location, level, region_size(extent, ds))
        return resample(pixels, extent, ds, size)

    def get_thumbnail(self, max_size: int | tuple[int, int]) -> NDArray[np.uint8]:
        """The whole slide shrunk to fit ``max_size`` (pixels a side, or a ``(width, height)`` box), never
        enlarged, read from the best level in strips."""
        self._check_open()
        if is_whole(max_size) and max_size > 0:
            box = (int(max_size), int(max_size))
        elif is_pair(max_size) and all(is_whole(v) and v > 0 for v in max_size):
            box = (int(max_size[0]), int(max_size[1]))
        else:
            raise ConfigError(
                f"max_size must be a positive whole number of pixels or a (width, height) pair of them, "
                f"got {max_size!r}"
            )
        w0, h0 = self.dimensions
        size = thumbnail_size((w0, h0), box)
        level = self.best_level_for_downsample(min(w0 / size[0], h0 / size[1]))
        width, height = self.level_dimensions[level]
        return thumbnail_strips(lambda y, rows: self._read_level(level, 0, y, width, rows), (width, height), size)

    # --- stored tiles, decoded in parallel ----------------------------------
    def _is_native_tiff(self) -> bool:
        """Whether the file is a TIFF whose stored tiles may be decoded directly; readers override."""
        return False

    def native_tiles(self) -> StoredTiles | None:
        """The file's stored tiles for parallel decoding (see ``stored_tiles.py``), or None.

        Opened once, on first use, and closed with the reader.
        """
        with self._native_lock:
            if not self._native_opened:
                self._native_opened = True
                if self._is_native_tiff():
                    from algorithm.slide.native import NativeTiles

                    self._native = NativeTiles.open(self.path, self.level_dimensions)
            return self._native

    def _close_native(self) -> None:
        with self._native_lock:
            native, self._native = self._native, None
            self._native_opened = True  # no reopening after close
        if native is not None:
            native.close()

    # --- lifetime ---------------------------------------------------------
    def close(self) -> None:
        """Release file handles; again is harmless, and reading afterwards raises SlideError ("the slide is
        closed"). Readers release their own handles in :meth:`_release`."""
        if self._closed:
            return
        self._closed = True
        try:
            self._close_native()
        finally:
            self._release()

    def _release(self) -> None:  # noqa: B027 - a hook: readers holding no handle have nothing to release
        """Release the reader's own file handles (once, from :meth:`close`); readers with handles override."""

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise SlideError(f"{self.path}: the slide is closed")

    def _check_level(self, level: object) -> None:
        if not (is_whole(level) and 0 <= level < self.level_count):
            raise ConfigError(
                f"{self.path}: level must be a whole number from 0 to {self.level_count - 1} "
                f"({self.level_count} level{'s' if self.level_count > 1 else ''}), got {level!r}"
            )

    def __enter__(self) -> SlideReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        w, h = self.dimensions
        return f"{type(self).__name__}({str(self.path)!r}, {w}x{h}, levels={self.level_count})"
