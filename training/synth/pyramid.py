"""Streaming pyramidal tiled TIFF writer (OpenSlide "generic tiled TIFF").

What OpenSlide 4 needs, checked against openslide-bin 4.0.1:
* every level a *tiled* image in its own top-level IFD, largest first
  (successive pages; OpenSlide does not look into SubIFDs, tifffile finds
  the same pages as ``series[0].levels`` because reduced pages carry
  ``NewSubfileType = 1``);
* RGB, JPEG (YCbCr 2x2, self-contained tiles) or deflate tiles;
* ``XResolution``/``YResolution`` with ``ResolutionUnit = centimetre`` for
  ``openslide.mpp-x``/``-y`` (pixels per cm = 10^4 / mpp).

Tiles come from a callback, one at a time, so memory stays at a few tiles
whatever the slide size; the file is written to a temporary name and renamed
into place when complete.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import tifffile

from algorithm.errors import ConfigError
from algorithm.io.atomic import atomic_path

COMPRESSIONS = ("jpeg", "deflate")
TILE_SIZES = (256, 512)


@dataclass(frozen=True)
class TiffOptions:
    """How the pyramidal TIFF is written: compression, tile size and the pyramid's levels."""

    compression: str = "jpeg"
    jpeg_quality: int = 90
    tile: int = 512
    level_factor: int = 4  # downsample between successive levels
    top_max: int = 2048  # add levels until the smallest fits in this many pixels

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSIONS:
            raise ConfigError(f"compression must be one of {', '.join(COMPRESSIONS)}, got {self.compression!r}")
        if self.tile not in TILE_SIZES:
            raise ConfigError(f"tile size must be one of {', '.join(map(str, TILE_SIZES))}, got {self.tile!r}")
        if not 1 <= int(self.jpeg_quality) <= 100:
            raise ConfigError(f"JPEG quality must be in [1, 100], got {self.jpeg_quality!r}")
        if self.level_factor not in (2, 4):
            raise ConfigError(f"level factor must be 2 or 4, got {self.level_factor!r}")

    def to_dict(self) -> dict:
        """The options as plain JSON types (recorded in each slide's truth file)."""
        return {
            "compression": self.compression,
            "jpeg_quality": self.jpeg_quality,
            "tile": self.tile,
            "level_factor": self.level_factor,
            "top_max": self.top_max,
        }


def level_downsamples(width: int, height: int, factor: int = 4, top_max: int = 2048) -> list[int]:
    """Integer downsamples 1, f, f^2, ... until the level fits in ``top_max`` pixels."""
    out = [1]
    while max(math.ceil(width / out[-1]), math.ceil(height / out[-1])) > top_max:
        out.append(out[-1] * factor)
    return out


def level_sizes(width: int, height: int, downsamples: list[int]) -> list[tuple[int, int]]:
    """(width, height) of each level: the slide's size over the downsample, rounded up."""
    return [(math.ceil(width / d), math.ceil(height / d)) for d in downsamples]


def tile_count(width: int, height: int, options: TiffOptions) -> int:
    """The number of tiles the whole pyramid holds: the progress bar's total."""
    t = options.tile
    return sum(
        math.ceil(w / t) * math.ceil(h / t)
        for w, h in level_sizes(width, height, level_downsamples(width, height, options.level_factor, options.top_max))
    )


# render(x0, y0, width, height, downsample) -> uint8 (height, width, 3); x0/y0 level-0.
RenderFn = Callable[[float, float, int, int, float], np.ndarray]


def _tiles(
    render: RenderFn, lw: int, lh: int, d: int, tile: int, on_tile: Callable[[], None] | None
) -> Iterator[np.ndarray]:
    for ty in range(math.ceil(lh / tile)):
        for tx in range(math.ceil(lw / tile)):
            w = min(tile, lw - tx * tile)
            h = min(tile, lh - ty * tile)
            img = render(tx * tile * d, ty * tile * d, w, h, float(d))
            if img.shape != (h, w, 3) or img.dtype != np.uint8:
                raise ValueError(f"render returned {img.shape} {img.dtype}, expected {(h, w, 3)} uint8")
            if w < tile or h < tile:
                # Pad edge tiles by replication, not black, so JPEG does not ring at the border.
                img = np.pad(img, ((0, tile - h), (0, tile - w), (0, 0)), mode="edge")
            if on_tile is not None:
                on_tile()
            yield img


def write_pyramid(
    path: str | os.PathLike[str],
    width: int,
    height: int,
    mpp: float,
    render: RenderFn,
    options: TiffOptions = TiffOptions(),
    on_tile: Callable[[], None] | None = None,
    description: str | None = None,
) -> list[tuple[int, int, int]]:
    """Write the pyramid atomically; returns ``[(downsample, width, height), ...]`` per level."""
    downsamples = level_downsamples(width, height, options.level_factor, options.top_max)
    sizes = level_sizes(width, height, downsamples)
    if options.compression == "jpeg":
        compression, args = "jpeg", {"level": int(options.jpeg_quality)}
    else:
        compression, args = "zlib", {"level": 6}
    bigtiff = width * height * 3 * 1.4 > 2**31
    with atomic_path(path) as tmp, tifffile.TiffWriter(tmp, bigtiff=bigtiff) as tw:
        for level, (d, (lw, lh)) in enumerate(zip(downsamples, sizes, strict=True)):
            ppcm = 1e4 / (mpp * d)
            tw.write(
                _tiles(render, lw, lh, d, options.tile, on_tile),
                shape=(lh, lw, 3),
                dtype=np.uint8,
                tile=(options.tile, options.tile),
                photometric="rgb",
                compression=compression,
                compressionargs=args,
                resolution=(ppcm, ppcm),
                resolutionunit="CENTIMETER",
                subfiletype=0 if level == 0 else 1,
                metadata=None,
                description=description if level == 0 else None,
                software="training.synth",
                maxworkers=1,
            )
    return [(d, w, h) for d, (w, h) in zip(downsamples, sizes, strict=True)]


def write_image(path: str | os.PathLike[str], pixels: np.ndarray, mpp: float) -> None:
    """An RGB image in memory ``(h, w, 3)`` uint8 as a lossless pyramid TIFF at ``mpp`` (deflate, 256 px tiles,
    the smaller levels by plain subsampling): a PNG/JPEG or a crop made into what the kit's reader opens."""
    height, width = pixels.shape[:2]

    def render(x: float, y: float, w: int, h: int, downsample: float) -> np.ndarray:
        step = int(downsample)
        return np.ascontiguousarray(pixels[int(y) : int(y) + h * step : step, int(x) : int(x) + w * step : step])

    write_pyramid(path, width, height, mpp, render, TiffOptions(compression="deflate", tile=256, top_max=4096))
