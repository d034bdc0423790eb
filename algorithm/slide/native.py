"""A TIFF slide's stored tiles, decoded straight from the file, in parallel.

OpenSlide decodes in the calling thread, and decodes a stored tile again for
each overlapping region once its small tile cache (32 MiB) has dropped it. For
the TIFF family (generic tiled TIFF, Aperio SVS, the kit's synthetic pyramids)
the stored tiles are plain compressed blobs that tifffile locates and
imagecodecs decodes without holding the GIL. So a caller can decode each stored tile exactly once, in as many
threads as it likes, and cache what it decoded.

Only files whose decoded pixels are known to equal OpenSlide's are accepted:
8-bit RGB or grey, contiguous samples, and a compression checked against
OpenSlide 4 (libjpeg-turbo for JPEG, OpenJPEG for Aperio's RGB JPEG 2000).
Everything else gets ``None`` from :meth:`NativeTiles.open` and stays with the
slide's own reader.

Thread safety without a lock: compressed bytes are read with ``os.pread`` on
one descriptor (no shared file position) and decoded by tifffile's per-page
decode closure, which is fetched once at open and keeps no mutable state.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from numpy.typing import NDArray

from algorithm.errors import SlideError
from algorithm.slide.quiet import quiet
from algorithm.slide.stored_tiles import WHITE, StoredTiles

_log = logging.getLogger(__name__)

# TIFF compressions whose decoded pixels equal OpenSlide 4.0's (checked by the
# tests), or that OpenSlide refuses, so only TiffReader, which decodes them with
# the same tifffile code, ever reads them.
_COMPRESSIONS = {
    1: "none",
    5: "LZW",
    7: "JPEG",
    8: "Adobe deflate",
    32773: "PackBits",
    32946: "deflate",
    50000: "zstd",
    33005: "Aperio JPEG 2000 RGB",  # equal to OpenSlide on a real TCGA slide
    34925: "LZMA",  # OpenSlide refuses it
    50001: "WebP",  # OpenSlide refuses it
}
# Aperio JPEG 2000 YCbCr (33003): OpenSlide converts the colours itself; unverified.

_MINISBLACK, _RGB, _YCBCR = 1, 2, 6
# JPEG's APP14 "Adobe" segment with colour transform 0: the three channels are RGB, not YCbCr
_ADOBE_RGB = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"
_JPEG = 7

Decoder = Callable[..., Any]


@dataclass(frozen=True)
class _Level:
    width: int
    height: int
    tile_width: int
    tile_height: int
    columns: int
    rows: int
    offsets: NDArray[np.int64]
    bytecounts: NDArray[np.int64]
    decode: Decoder  # tifffile's decode closure for this page
    jpegtables: bytes | None
    grey: bool
    jpeg: bool  # compressed as JPEG (TIFF compression 7)
    rgb_jpeg: bool  # JPEG of RGB samples (photometric RGB, as Aperio's): the stream itself does not say so


class NativeTiles(StoredTiles):
    """A slide's stored tiles, decoded straight from the file (tifffile + imagecodecs); thread-safe."""

    _levels: list[_Level]

    def __init__(self, path: Path, fd: int, levels: list[_Level]) -> None:
        super().__init__(path, levels)
        self._fd = fd

    @classmethod
    def open(cls, path: Path, level_dimensions: tuple[tuple[int, int], ...]) -> NativeTiles | None:
        """None unless every level of the reader is a tiled page of this TIFF whose pixels
        decode exactly as OpenSlide's would (see the module docstring). Never raises."""
        if not hasattr(os, "pread"):
            return None  # Windows: no positional reads
        try:
            levels = _levels(Path(path), level_dimensions)
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except Exception as exc:  # noqa: BLE001 - any failure (a refusal, tifffile, the OS) means "not for us"
            _log.debug("%s: no native tile decoding: %s", path, exc)
            return None
        return cls(Path(path), fd, levels)

    # --- pixels -----------------------------------------------------------
    def decode(self, level: int, column: int, row: int) -> NDArray[np.uint8]:
        """Stored tile ``(column, row)`` of ``level`` as RGB ``(th, tw, 3)``, edge tiles uncropped.

        A tile with no data (offset or byte count 0) is white glass; data that
        does not decode raises SlideError naming the file and the tile.
        """
        lv, index, offset, count = self._locate(level, column, row)
        shape = (lv.tile_height, lv.tile_width, 3)
        if offset == 0 or count == 0:
            return np.full(shape, WHITE, dtype=np.uint8)
        where = f"tile ({column}, {row}) of level {level}"
        data = self._read(offset, count, where)
        try:
            with quiet("tifffile"):
                segment, _, _ = lv.decode(data, index, jpegtables=lv.jpegtables)
        except Exception as exc:  # tifffile and imagecodecs raise many kinds
            raise SlideError(f"{self.path}: cannot decode {where}: {exc} (the file is corrupt)") from exc
        tile = segment[0]  # (depth=1, th, tw, samples) -> (th, tw, samples)
        if tile.shape[:2] != shape[:2]:
            raise SlideError(
                f"{self.path}: {where} decodes to {tile.shape[1]} x {tile.shape[0]} pixels, "
                f"not the stored tile size {shape[1]} x {shape[0]} (the file is corrupt)"
            )
        if lv.grey:
            return np.repeat(tile[..., :1], 3, axis=2)
        if not tile.flags.writeable or not tile.flags.c_contiguous:
            tile = tile.copy()  # uncompressed tiles are views of the read-only bytes
        return tile

    def jpeg_stream(self, level: int, column: int, row: int) -> bytes | None:
        """The stored JPEG tile with the page's shared tables spliced in (TIFF's abbreviated streams:
        the tables' stream less its end marker, then the tile's less its start marker). JPEG of RGB
        samples gets an Adobe marker saying so (libjpeg reads an unmarked 3-channel JPEG as YCbCr,
        where the TIFF's photometric tag says RGB)."""
        lv, _, offset, count = self._locate(level, column, row)
        if not lv.jpeg or lv.grey:
            return None
        if offset == 0 or count == 0:
            return b""
        data = self._read(offset, count, f"tile ({column}, {row}) of level {level}")
        if lv.jpegtables and data[:2] == b"\xff\xd8" and lv.jpegtables[-2:] == b"\xff\xd9":
            data = lv.jpegtables[:-2] + data[2:]
        if lv.rgb_jpeg and data[:2] == b"\xff\xd8" and data[2:4] != _ADOBE_RGB[:2]:  # not marked already
            data = data[:2] + _ADOBE_RGB + data[2:]
        return data

    def _locate(self, level: int, column: int, row: int) -> tuple[_Level, int, int, int]:
        """The level, the tile's index in it, and its bytes' offset and count (0: no data)."""
        lv = self._levels[level]
        if not (0 <= column < lv.columns and 0 <= row < lv.rows):
            raise IndexError(f"tile ({column}, {row}) is outside level {level}'s {lv.columns} x {lv.rows} grid")
        index = row * lv.columns + column
        return lv, index, int(lv.offsets[index]), int(lv.bytecounts[index])

    def _read(self, offset: int, count: int, where: str) -> bytes:
        """``count`` bytes at ``offset``; pread keeps no file position, so threads need no lock."""
        chunks: list[bytes] = []
        got = 0
        try:
            while got < count:
                chunk = os.pread(self._fd, count - got, offset + got)
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        except OSError as exc:
            raise SlideError(f"{self.path}: cannot read {where}: {exc}") from exc
        if got < count:
            raise SlideError(
                f"{self.path}: {where} needs {count} bytes at offset {offset} but the file "
                f"ends first (the file is truncated)"
            )
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    # --- lifetime ---------------------------------------------------------
    def close(self) -> None:
        """Close the file descriptor; reading afterwards is an error."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


class _Refused(Exception):
    """Why a file's tiles are left to its reader."""


def _levels(path: Path, level_dimensions: tuple[tuple[int, int], ...]) -> list[_Level]:
    """Each reader level's page, checked and described; raises _Refused (or tifffile's errors)."""
    if not level_dimensions:
        raise _Refused("no levels")
    with quiet("tifffile"), tifffile.TiffFile(str(path)) as tif:
        candidates = _candidate_pages(tif)
        used: set[int] = set()
        levels: list[_Level] = []
        for number, (width, height) in enumerate(level_dimensions):
            page = next(
                (
                    p
                    for p in candidates
                    if p.offset not in used and (int(p.imagewidth), int(p.imagelength)) == (width, height)
                ),
                None,
            )
            if page is None:
                raise _Refused(f"level {number} ({width} x {height}) is no tiled page of the TIFF")
            used.add(page.offset)
            why = _unsupported(page)
            if why:
                raise _Refused(f"level {number}: {why}")
            levels.append(_describe(page))
    return levels


def _candidate_pages(tif: tifffile.TiffFile) -> list[tifffile.TiffPage]:
    """Tiled pages in file order: the top-level IFDs (OpenSlide's levels), then series levels
    (tifffile's, as TiffReader sees them, which may live in SubIFDs)."""
    pages: list[tifffile.TiffPage] = []
    seen: set[int] = set()

    def add(page: object) -> None:
        if isinstance(page, tifffile.TiffPage) and page.is_tiled and page.offset not in seen:
            seen.add(page.offset)
            pages.append(page)

    for page in tif.pages:
        add(page)
    for series in tif.series:
        for level in series.levels:
            add(level.keyframe)
    return pages


def _unsupported(page: tifffile.TiffPage) -> str | None:
    """Why this page's decoded pixels might not match OpenSlide's, or None."""
    compression = int(page.compression)
    photometric = int(page.photometric)
    if compression not in _COMPRESSIONS:
        return f"compression {compression} is not one known to decode as OpenSlide does"
    if page.planarconfig != 1 and page.samplesperpixel > 1:
        return "planar (separated) samples"
    if page.imagedepth != 1 or page.tiledepth != 1:
        return "3-D tiles"
    if page.extrasamples:
        return "extra samples (alpha)"
    if page.bitspersample != 8 or page.sampleformat != 1:
        return f"{page.bitspersample}-bit samples of format {page.sampleformat}, not 8-bit unsigned"
    if (photometric, page.samplesperpixel) not in ((_RGB, 3), (_MINISBLACK, 1), (_YCBCR, 3)):
        return f"photometric {photometric} with {page.samplesperpixel} samples is neither RGB nor grey"
    if photometric == _YCBCR and compression != 7:
        return "YCbCr pixels outside JPEG"
    if page.tilewidth <= 0 or page.tilelength <= 0:
        return "no tile size"
    columns = math.ceil(page.imagewidth / page.tilewidth)
    rows = math.ceil(page.imagelength / page.tilelength)
    if len(page.dataoffsets) != columns * rows or len(page.databytecounts) != columns * rows:
        return f"{len(page.dataoffsets)} tiles stored, {columns} x {rows} expected"
    try:
        page.decode(None, 0)  # tifffile's decoder for an unsupported page raises here
    except Exception as exc:  # noqa: BLE001
        return f"tifffile cannot decode it: {exc}"
    return None


def _describe(page: tifffile.TiffPage) -> _Level:
    return _Level(
        width=int(page.imagewidth),
        height=int(page.imagelength),
        tile_width=int(page.tilewidth),
        tile_height=int(page.tilelength),
        columns=math.ceil(page.imagewidth / page.tilewidth),
        rows=math.ceil(page.imagelength / page.tilelength),
        offsets=np.asarray(page.dataoffsets, dtype=np.int64),
        bytecounts=np.asarray(page.databytecounts, dtype=np.int64),
        decode=page.decode,  # fetched once here, so threads never race on tifffile's cache
        jpegtables=page.jpegtables,
        grey=int(page.photometric) == _MINISBLACK,
        jpeg=int(page.compression) == _JPEG,
        rgb_jpeg=int(page.compression) == _JPEG and int(page.photometric) == _RGB,
    )
