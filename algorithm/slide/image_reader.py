"""Plain pictures (PNG, JPEG, BMP: a crop, a patch, a tile exported from a viewer) through Pillow.

A challenge's images come as TIFF, SVS, DICOM or ``.mha``, but a participant
trying the nuclei model on a patch has a PNG. Such a picture is one level, held
in memory. Its dots per inch are a screen's unless a tool wrote a microscope's
(72 dpi is 352.8 um per pixel: not plausible, so not used), so the
resolution usually comes from ``--mpp``. Transparent pixels are glass (white),
as past a slide's edge. Folders are not searched for these suffixes: pictures
beside slides are not slides.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from algorithm.errors import SlideError
from algorithm.slide.base import WHITE, SlideReader

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
MICRONS_PER_INCH = 25_400.0


class ImageReader(SlideReader):
    """A PNG, JPEG or BMP picture as a one-level slide, decoded once and held in memory."""

    backend = "pillow"
    concurrent_reads = True  # an array in memory: any thread may slice it

    def __init__(self, path: Path, mpp_override: tuple[float, float] | None = None) -> None:
        super().__init__(path, mpp_override)
        try:
            with Image.open(path) as image:
                self._dpi = image.info.get("dpi")
                self._pixels = _on_glass(image)
        except Image.DecompressionBombError as exc:
            raise SlideError(f"{path}: too large for a picture ({exc}); convert it to a tiled TIFF") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise SlideError(f"{path}: not a readable picture ({exc})") from exc
        height, width = self._pixels.shape[:2]
        if width == 0 or height == 0:
            raise SlideError(f"{path}: the picture is empty ({width} x {height} pixels)")

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """The one level's ``(width, height)``."""
        return ((self._pixels.shape[1], self._pixels.shape[0]),)

    def _native_mpp(self) -> tuple[float, float] | None:
        dpi = self._dpi
        if not (isinstance(dpi, tuple) and len(dpi) == 2 and all(float(d) > 0 for d in dpi)):
            return None
        return MICRONS_PER_INCH / float(dpi[0]), MICRONS_PER_INCH / float(dpi[1])

    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> NDArray[np.uint8]:
        return self._pixels[y : y + height, x : x + width]


def _on_glass(image: Image.Image) -> NDArray[np.uint8]:
    """RGB uint8 pixels, transparent ones composited onto white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        glass = Image.new("RGBA", rgba.size, (WHITE, WHITE, WHITE, 255))
        return np.asarray(Image.alpha_composite(glass, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))
