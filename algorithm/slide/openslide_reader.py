"""Pyramidal slides through OpenSlide: SVS, NDPI, MRXS, tiled TIFF and the rest.

A level whose downsample is not a whole number (an Aperio level of 2221 pixels
under 4443: 2.0005) is read from its stored tiles where the file has them
(:meth:`SlideReader.native_tiles`: TIFF and SVS files of the compressions checked
there), not through OpenSlide. OpenSlide locates a level's pixels from a level-0
position divided by the downsample, which falls between that level's pixels,
and paints them from there interpolated: a region read that way is shifted by
up to a quarter pixel and differs from the stored pixels by up to 50 levels.
Level 0 and levels of whole downsamples are OpenSlide's own (exact there).
Other vendors' files (NDPI, MRXS ...) keep OpenSlide's reading at every level.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openslide
from numpy.typing import NDArray

from algorithm.errors import SlideError
from algorithm.slide.base import SlideReader
from algorithm.slide.tiff_check import TIFF_SUFFIXES

NATIVE_VENDORS = ("generic-tiff", "aperio")


class OpenSlideReader(SlideReader):
    """Pyramids and vendor formats through OpenSlide; transparent gaps between scanned regions read as white."""

    backend = "openslide"
    concurrent_reads = True  # OpenSlide handles are thread-safe

    def __init__(self, path: Path, mpp_override: tuple[float, float] | None = None) -> None:
        super().__init__(path, mpp_override)
        try:
            self._slide = openslide.OpenSlide(str(path))
        except openslide.OpenSlideUnsupportedFormatError as exc:
            raise SlideError(f"{path}: OpenSlide does not support this file") from exc
        except openslide.OpenSlideError as exc:
            raise SlideError(f"{path}: OpenSlide cannot open it: {exc}") from exc
        self._levels = tuple((int(w), int(h)) for w, h in self._slide.level_dimensions)
        self._downsamples = tuple(float(d) for d in self._slide.level_downsamples)
        self._properties = dict(self._slide.properties)  # kept: the metadata stays readable after close()

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """Every level's ``(width, height)`` as OpenSlide reports them."""
        return self._levels

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        """OpenSlide's own downsamples (level 0's size over the level's, the mean of width and height)."""
        return self._downsamples

    @property
    def properties(self) -> dict[str, str]:
        """The file's metadata as OpenSlide names it (``openslide.vendor``, ``aperio.AppMag`` ...)."""
        return dict(self._properties)

    def _native_mpp(self) -> tuple[float, float] | None:
        props = self._properties
        try:
            return float(props[openslide.PROPERTY_NAME_MPP_X]), float(props[openslide.PROPERTY_NAME_MPP_Y])
        except (KeyError, ValueError):
            return None

    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> NDArray[np.uint8]:
        ds = self._downsamples[level]
        if not ds.is_integer():  # OpenSlide would interpolate between the level's pixels (module docstring)
            native = self.native_tiles()
            if native is not None:
                return native.read_region(level, x, y, width, height)
        location = (int(round(x * ds)), int(round(y * ds)))  # exact for a whole downsample
        try:
            rgba = np.asarray(self._slide.read_region(location, level, (width, height)))
        except openslide.OpenSlideError as exc:
            raise SlideError(
                f"{self.path}: cannot read pixels at level {level}, ({x}, {y}) size {width}x{height}: {exc}"
                " (the file is corrupt or truncated)"
            ) from exc
        return _composite_on_white(rgba)

    def _is_native_tiff(self) -> bool:
        # TIFF-family files whose tiles tifffile can locate; other vendors' layouts are OpenSlide's alone
        vendor = self._properties.get("openslide.vendor")
        return self.path.suffix.lower() in TIFF_SUFFIXES and vendor in NATIVE_VENDORS

    def _release(self) -> None:
        self._slide.close()


def _composite_on_white(rgba: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """OpenSlide returns premultiplied RGBA with transparent gaps; show gaps as white glass."""
    rgb = rgba[..., :3]
    alpha = rgba[..., 3:4]
    if alpha.min() == 255:
        return np.ascontiguousarray(rgb)
    # premultiplied: out = rgb + (1 - a) * white
    out = rgb.astype(np.uint16) + (255 - alpha.astype(np.uint16))
    return np.minimum(out, 255).astype(np.uint8)
