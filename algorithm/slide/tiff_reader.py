"""TIFFs that OpenSlide refuses: plain (stripped) TIFF, tiled TIFF of odd layout.

Reads only the tiles or strips a region touches, decoding them with tifffile, so
a large file is never loaded whole. Pyramid levels come from tifffile's series.
"""

from __future__ import annotations

import math
import struct
import threading
from pathlib import Path

import numpy as np
import tifffile
from numpy.typing import NDArray

from algorithm.errors import SlideError
from algorithm.slide.base import SlideReader
from algorithm.slide.quiet import quiet  # tifffile logs what it finds wrong; the kit raises one SlideError instead
from algorithm.slide.tiff_check import stacked

_UNIT_TO_MICRONS = {2: 25_400.0, 3: 10_000.0}  # ResolutionUnit inch, centimetre


class TiffReader(SlideReader):
    """Plain and odd tiled TIFFs through tifffile, decoding only the tiles or strips a region touches."""

    backend = "tifffile"
    concurrent_reads = True  # file reads under a lock, decoding outside it

    def __init__(self, path: Path, mpp_override: tuple[float, float] | None = None) -> None:
        super().__init__(path, mpp_override)
        self._lock = threading.Lock()
        with quiet("tifffile"):
            try:
                self._tif = tifffile.TiffFile(str(path))
            except (tifffile.TiffFileError, ValueError, IndexError, OSError, struct.error) as exc:
                raise SlideError(f"{path}: not a readable TIFF: {exc}") from exc
            try:
                try:
                    series = self._tif.series[0]
                    self._pages = [level.keyframe for level in series.levels]
                    several = stacked(self._tif)
                except (tifffile.TiffFileError, ValueError, IndexError, OSError, struct.error) as exc:
                    raise SlideError(f"{path}: not a readable TIFF: {exc}") from exc
                if several is not None:
                    raise SlideError(f"{path}: {several}")
                self._levels = tuple(_page_size(path, page) for page in self._pages)
                for page in self._pages:
                    _check_page(path, page)
                self._decode_segment(self._pages[-1], 0)  # fail now, not mid-slide, on undecodable data
            except BaseException:
                self._tif.close()
                raise

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """Every level's ``(width, height)``: the keyframes of the first series' levels."""
        return self._levels

    def _native_mpp(self) -> tuple[float, float] | None:
        page = self._pages[0]
        unit = page.tags.valueof("ResolutionUnit")
        xres, yres = page.tags.valueof("XResolution"), page.tags.valueof("YResolution")
        if unit not in _UNIT_TO_MICRONS or not xres or not yres:
            return None
        microns = _UNIT_TO_MICRONS[int(unit)]
        px_per_unit_x = xres[0] / xres[1] if isinstance(xres, tuple) else float(xres)
        px_per_unit_y = yres[0] / yres[1] if isinstance(yres, tuple) else float(yres)
        if px_per_unit_x <= 0 or px_per_unit_y <= 0:
            return None
        return microns / px_per_unit_x, microns / px_per_unit_y

    def _decode_segment(self, page: tifffile.TiffPage, index: int) -> tuple[NDArray, tuple[int, int]]:
        """Decode tile or strip ``index``; return it as (h, w, samples) and its (y, x) origin."""
        try:
            with self._lock:
                fh = self._tif.filehandle
                fh.seek(page.dataoffsets[index])
                data = fh.read(page.databytecounts[index])
            with quiet("tifffile"):
                segment, origin, _ = page.decode(data, index, jpegtables=page.jpegtables)
        except Exception as exc:  # tifffile and imagecodecs raise many kinds
            raise SlideError(f"{self.path}: cannot decode TIFF data: {exc}") from exc
        if segment is None:  # an empty tile (offset 0): nothing stored, show glass
            th, tw = (page.tilelength, page.tilewidth) if page.is_tiled else (page.rowsperstrip, page.imagewidth)
            segment = np.full((1, th, tw, page.samplesperpixel), 255, dtype=np.uint8)
        return segment[0], (origin[2], origin[3])

    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> NDArray[np.uint8]:
        page = self._pages[level]
        out = np.empty((height, width, 3), dtype=np.uint8)
        img_w = page.imagewidth
        if page.is_tiled:
            seg_h, seg_w = page.tilelength, page.tilewidth
        else:
            seg_h, seg_w = min(page.rowsperstrip, page.imagelength), img_w
        per_row = math.ceil(img_w / seg_w)
        for row in range(y // seg_h, (y + height - 1) // seg_h + 1):
            for col in range(x // seg_w, (x + width - 1) // seg_w + 1):
                segment, (sy, sx) = self._decode_segment(page, row * per_row + col)
                rgb = _to_rgb8(segment)
                ya, yb = max(y, sy), min(y + height, sy + rgb.shape[0])
                xa, xb = max(x, sx), min(x + width, sx + rgb.shape[1])
                out[ya - y : yb - y, xa - x : xb - x] = rgb[ya - sy : yb - sy, xa - sx : xb - sx]
        return out

    def _is_native_tiff(self) -> bool:
        return True

    def _release(self) -> None:
        self._tif.close()


def _page_size(path: Path, page: tifffile.TiffPage) -> tuple[int, int]:
    width, height = int(page.imagewidth), int(page.imagelength)
    if width <= 0 or height <= 0:
        raise SlideError(f"{path}: the image is empty ({width} x {height} pixels)")
    return width, height


def _check_page(path: Path, page: tifffile.TiffPage) -> None:
    if page.planarconfig != 1 and page.samplesperpixel > 1:
        raise SlideError(f"{path}: planar (separated) TIFF samples are not supported")
    if page.samplesperpixel not in (1, 3, 4):
        raise SlideError(f"{path}: {page.samplesperpixel} samples per pixel; expected grey, RGB or RGBA")
    if page.dtype not in (np.uint8, np.uint16):
        raise SlideError(f"{path}: pixel type {page.dtype} is not supported (expected 8 or 16 bit)")
    if len(page.dataoffsets) == 0:
        raise SlideError(f"{path}: the TIFF has no image data")


def _to_rgb8(segment: NDArray) -> NDArray[np.uint8]:
    if segment.dtype == np.uint16:
        segment = (segment >> 8).astype(np.uint8)
    if segment.ndim == 2:
        segment = segment[..., None]
    if segment.shape[-1] == 1:
        return np.repeat(segment, 3, axis=-1)
    return segment[..., :3]
