"""JPEG tiles decoded straight at 1/2, 1/4 or 1/8 of their size (libjpeg's DCT scaling).

A JPEG stores 8 x 8 blocks of frequencies. libjpeg-turbo can run a smaller
inverse DCT on each block's lowest frequencies and emit the block as 4 x 4,
2 x 2 or 1 x 1 pixels, skipping the full-size pixels and the box shrink after
them: a 512 x 512 tile at half size takes about as long as decoding it at full
size alone, less than half the time of decoding and shrinking it (measured:
1.1 ms against 2.3-3.3 ms on one core of a 2-core EPYC).

The pixels are not the box average's bytes, but the same image within decoder
noise: on the benchmark slide's tiles the two differ by 0.5 levels on average,
99 % of values by at most 2, the largest differences at sharp edges (like those
between two JPEG decoders). The tile engine uses it where the grid is a
power-of-two shrink of the stored tiles, by default for detection only
(``EngineOptions.scales_jpeg``: a probability map moves by more). Pillow,
already the kit's image library, exposes it as ``Image.draft``.
"""

from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image

SCALES = (2, 4, 8)  # the shrink factors libjpeg's scaled IDCT gives whole blocks for (1: full size)


def decode_scaled(stream: bytes, factor: int) -> NDArray[np.uint8]:
    """A complete JPEG stream decoded to RGB ``(h / factor, w / factor, 3)``, writable.

    ``factor`` must be 1 or one of :data:`SCALES` and divide both sides; raises
    ValueError otherwise, and Pillow's errors (OSError, SyntaxError ...) for data
    that does not decode, a truncated stream included.
    """
    if factor not in (1, *SCALES):
        raise ValueError(f"JPEG scaling decodes at 1/1, 1/2, 1/4 or 1/8 of the size, not 1/{factor}")
    with Image.open(io.BytesIO(stream), formats=("JPEG",)) as image:
        width, height = image.size
        if width % factor or height % factor:
            raise ValueError(f"a {width} x {height} JPEG does not shrink by {factor} into whole pixels")
        size = (width // factor, height // factor)
        image.draft("RGB", size)
        if image.size != size:
            raise ValueError(f"libjpeg scaled a {width} x {height} JPEG to {image.size}, not {size}")
        pixels = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    return pixels if pixels.flags.writeable else pixels.copy()
