"""Whether a TIFF-family file (TIFF, SVS, BigTIFF) is whole: what to say when a reader refuses it.

A slide cut short by an interrupted copy or download is the commonest damaged
file, and the readers say little about it: OpenSlide calls it an unsupported
format, tifffile an "empty input file" at the first tile past the end. This
walks the file's chain of image directories (the header, then each directory's
link to the next) and the image data each directory points at, and says where
the file ends and what lies beyond it. Only headers and offset tables are
read, never pixels.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import BinaryIO

import tifffile

from algorithm.slide.quiet import quiet  # tifffile logs what it finds wrong; the kit raises one SlideError instead

TIFF_SUFFIXES = (".tif", ".tiff", ".svs")  # names of formats that are always TIFF files
TIFF_MAGIC = {b"II*\x00": ("<", False), b"MM\x00*": (">", False), b"II+\x00": ("<", True), b"MM\x00+": (">", True)}
MAX_DIRECTORIES = 10_000  # a chain longer than any slide's pyramid: a loop or garbage
# tifffile's names for scanner formats OpenSlide reads with a driver of their own, which knows how their pages
# make one slide (focal planes included): never taken for a stack
VENDOR_SERIES = ("svs", "ndpi", "philips", "scn", "bif")


def is_tiff(path: Path) -> bool:
    """Whether ``path`` starts as a TIFF or BigTIFF file does."""
    with open(path, "rb") as f:
        return f.read(4) in TIFF_MAGIC


def truncation(path: Path) -> str | None:
    """Why the TIFF at ``path`` is cut short or its structure broken, in a user's words; None when it is whole
    (or not a TIFF). Checks the chain of directories, then every directory's image data against the file's
    size."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(16)
        if head[:4] not in TIFF_MAGIC:
            return None
        order, big = TIFF_MAGIC[head[:4]]
        if len(head) < (16 if big else 8):
            return f"truncated: {size} bytes, shorter than a TIFF header"
        offset = struct.unpack(order + ("Q" if big else "I"), head[8:16] if big else head[4:8])[0]
        seen: set[int] = set()
        while offset:
            if offset >= size:
                return f"truncated: the file ends at byte {size:,} but its next image directory is at byte {offset:,}"
            if offset in seen or len(seen) >= MAX_DIRECTORIES:
                return "damaged: its chain of image directories loops"
            seen.add(offset)
            offset = _next_directory(f, offset, order, big, size)
            if offset < 0:
                return f"truncated: the file ends at byte {size:,}, inside an image directory"
    end = _data_end(path)
    if end is not None and end > size:
        return f"truncated: the file ends at byte {size:,} but its image data runs to byte {end:,}"
    return None


def _next_directory(f: BinaryIO, offset: int, order: str, big: bool, size: int) -> int:
    """The offset of the directory after the one at ``offset`` (0: none), or -1 when it runs past the end."""
    count_format, entry, link_format = ("Q", 20, "Q") if big else ("H", 12, "I")
    count_size, link_size = struct.calcsize(count_format), struct.calcsize(link_format)
    f.seek(offset)
    raw = f.read(count_size)
    if len(raw) < count_size:
        return -1
    (count,) = struct.unpack(order + count_format, raw)
    link_at = offset + count_size + count * entry
    if link_at + link_size > size:
        return -1
    f.seek(link_at)
    return int(struct.unpack(order + link_format, f.read(link_size))[0])


def _data_end(path: Path) -> int | None:
    """The last byte any directory's image data (tiles or strips) reaches, or None when tifffile cannot tell."""
    try:
        with quiet("tifffile"), tifffile.TiffFile(str(path)) as tif:
            ends = (
                int(o) + int(c)
                for page in tif.pages
                for o, c in zip(page.dataoffsets, page.databytecounts, strict=True)
                if o  # offset 0: a tile not stored
            )
            return max(ends, default=0)
    except Exception:  # noqa: BLE001 - a structure tifffile cannot parse: the readers' own messages stand
        return None


def stack(path: Path) -> str | None:
    """Why the TIFF at ``path`` is not one slide but a stack of images (pages of one size, as tifffile
    groups them into its first series: crops, focal planes, channels), in a user's words; None for one
    image, with or without its pyramid of reduced-resolution levels, or when tifffile cannot tell (the
    readers' own messages stand). OpenSlide opens a tiled stack, and tifffile's first page, as if the first
    image were the whole file."""
    try:
        with quiet("tifffile"), tifffile.TiffFile(str(path)) as tif:
            return stacked(tif)
    except Exception:  # noqa: BLE001 - a structure tifffile cannot parse: the readers' own messages stand
        return None


def stacked(tif: tifffile.TiffFile) -> str | None:
    """:func:`stack` for a TIFF tifffile has opened."""
    series = tif.series[0]
    if str(series.kind).lower() in VENDOR_SERIES:
        return None
    level = series.levels[0] if series.levels else series
    page = level.keyframe
    images = math.prod(level.shape) // max(1, math.prod(page.shape))
    if images <= 1:
        return None
    return (
        f"a stack of {images} images of {page.imagewidth} x {page.imagelength} pixels, not one slide: "
        "the readers would see only the first; give each image as a file of its own"
    )
