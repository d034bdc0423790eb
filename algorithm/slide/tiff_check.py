"""Whether a TIFF-family file (TIFF, SVS, BigTIFF) is whole and one slide: what to say before a reader sees it.

A slide cut short by an interrupted copy or download is the commonest damaged
file, and the readers say little about it: OpenSlide calls it an unsupported
format, tifffile an "empty input file" at the first tile past the end. This
walks the file's chain of image directories (the header, then each directory's
link to the next) and the image data each directory points at, and says where
the file ends and what lies beyond it. A stack of images (crops, focal planes)
is named too: either reader would show its first image as the whole file.
Only headers and offset tables are read, never pixels.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from contextlib import contextmanager
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


def problem(path: Path) -> str | None:
    """Why the file at ``path`` cannot be read as one slide, in a user's words: cut short or its structure
    broken (the chain of image directories, then every directory's image data against the file's size), or a
    stack of images (:func:`stacked`: OpenSlide opens a tiled stack, and tifffile its first page, as if the
    first image were the whole file); None when it is whole and one slide, or not a TIFF. Only headers and
    offset tables are read; tifffile opens the file once for both checks."""
    broken = _broken_chain(path)
    if broken is not None or not is_tiff(path):
        return broken
    with _parsed(path) as tif:
        return None if tif is None else (_past_end(tif, path) or _stacked_or_none(tif))


def _broken_chain(path: Path) -> str | None:
    """Why the chain of image directories is cut short or loops; None when it is whole (or not a TIFF)."""
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


@contextmanager
def _parsed(path: Path) -> Iterator[tifffile.TiffFile | None]:
    """The file opened by tifffile (quietly), or None when tifffile cannot open it (the readers' own messages
    stand)."""
    with quiet("tifffile"):
        try:
            tif = tifffile.TiffFile(str(path))
        except Exception:  # noqa: BLE001 - a structure tifffile cannot parse
            yield None
            return
        with tif:
            yield tif


def _past_end(tif: tifffile.TiffFile, path: Path) -> str | None:
    """Why the image data (tiles or strips) runs past the file's end; None when it does not or tifffile cannot
    tell."""
    try:
        end = max(
            (
                int(o) + int(c)
                for page in tif.pages
                for o, c in zip(page.dataoffsets, page.databytecounts, strict=True)
                if o  # offset 0: a tile not stored
            ),
            default=0,
        )
    except Exception:  # noqa: BLE001 - a structure tifffile cannot parse: the readers' own messages stand
        return None
    size = path.stat().st_size
    return f"truncated: the file ends at byte {size:,} but its image data runs to byte {end:,}" if end > size else None


def _stacked_or_none(tif: tifffile.TiffFile) -> str | None:
    """:func:`stacked`, None where tifffile cannot group the pages."""
    try:
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
