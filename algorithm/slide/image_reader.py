"""Plain pictures (PNG, JPEG, BMP: a crop, a patch, a tile exported from a viewer) through Pillow.

A challenge's images come as TIFF, SVS, DICOM or ``.mha``, but a participant
trying the nuclei model on a patch has a PNG. Such a picture is one level, held
in memory. Its dots per inch are a screen's or a printer's unless a tool wrote a
microscope's (72 dpi is 352.8 um per pixel, 300 dpi 84.7: see
:data:`PICTURE_MAX_MPP`), so the resolution usually comes from ``--mpp``.
Transparent pixels are glass (white), as past a slide's edge; 16-bit grey is
scaled to 8 bits as the TIFF reader does. Folders are not searched for these
suffixes: pictures beside slides are not slides.
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
# The coarsest resolution a picture's dots per inch are taken to state, in um per pixel (2540 dpi). A
# microscope's camera gives at most about 10 um per pixel (a 6.5 um sensor pixel behind a 1x objective,
# the coarsest in brightfield use), and a picture is a crop or patch at one objective's resolution, not a
# slide's low-resolution level. What pictures carry beyond that is an export or print default (72, 96,
# 150, 300, 600, 1200 dpi: 353 to 21 um per pixel), which would read a 500-pixel patch as centimetres
# of tissue, so it counts as no resolution and --mpp / open_slide's default_mpp applies. (Slides keep
# the wider PLAUSIBLE_MPP: a mask or a pyramid's level may be that coarse.)
PICTURE_MAX_MPP = 10.0
_SIXTEEN_BIT_GREY = ("I;16", "I;16L", "I;16B", "I;16N")  # Pillow's modes for a 16-bit grey PNG


class ImageReader(SlideReader):
    """A PNG, JPEG or BMP picture as a one-level slide, decoded once and held in memory."""

    backend = "pillow"
    concurrent_reads = True  # an array in memory: any thread may slice it
    stated_mpp_max = PICTURE_MAX_MPP  # dots per inch coarser than a microscope's are an export default

    def __init__(self, path: Path, mpp_override: tuple[float, float] | None = None) -> None:
        super().__init__(path, mpp_override)
        try:
            with Image.open(path) as image:
                self._dpi = image.info.get("dpi")
                self._pixels = _on_glass(path, image)
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
        """From the dots per inch; coarser than :data:`PICTURE_MAX_MPP` they are not used (``stated_mpp_max``)."""
        dpi = self._dpi
        if not (isinstance(dpi, tuple) and len(dpi) == 2 and all(float(d) > 0 for d in dpi)):
            return None
        return MICRONS_PER_INCH / float(dpi[0]), MICRONS_PER_INCH / float(dpi[1])

    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> NDArray[np.uint8]:
        return self._pixels[y : y + height, x : x + width]


def _on_glass(path: Path, image: Image.Image) -> NDArray[np.uint8]:
    """RGB uint8 pixels, transparent ones composited onto white; 16-bit grey scaled to 8 bits (its high byte,
    as the TIFF reader does: Pillow's own conversion clips it to white)."""
    if image.mode in _SIXTEEN_BIT_GREY:
        grey = (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode in ("I", "F"):
        kind = "32-bit integer" if image.mode == "I" else "floating-point"
        raise SlideError(f"{path}: {kind} pixels are not supported; save the picture as 8- or 16-bit RGB or grey")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        glass = Image.new("RGBA", rgba.size, (WHITE, WHITE, WHITE, 255))
        return np.asarray(Image.alpha_composite(glass, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))
