"""A pyramid's levels as the grids of tiles a file stores, whatever decodes them.

The tile engine reads slides through this interface (``tiles_under``, ``pieces``,
``decode``, ``read_region``) so that each stored tile is decoded once however
many overlapping grid tiles need it. TIFF-family files (:mod:`.native`, tifffile
+ imagecodecs) and DICOM (:mod:`.dicom_reader`, pydicom) provide it; a subclass
supplies its levels' geometry and ``decode``, this class the rest.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from algorithm.errors import SlideError
from algorithm.slide.jpeg_scaling import SCALES, decode_scaled

WHITE = 255  # glass: what a slide shows where it stores no tissue (regions past its edge, tiles it left out)

PROBE_NOISE = 0.5  # mean grey levels Pillow's full-size decode may differ from decode()'s on a probe tile
Window = tuple[slice, slice]  # (rows, columns) of an array
Piece = tuple[tuple[int, int], Window, Window]  # a stored tile's (column, row), where its part goes, where it lies


class Geometry(Protocol):
    """A level's size and its tile grid (edge tiles are stored whole, past the level's edge)."""

    @property
    def width(self) -> int:
        """The level's width in pixels."""
        ...

    @property
    def height(self) -> int:
        """The level's height in pixels."""
        ...

    @property
    def tile_width(self) -> int:
        """A stored tile's width."""
        ...

    @property
    def tile_height(self) -> int:
        """A stored tile's height."""
        ...

    @property
    def columns(self) -> int:
        """Stored tiles across."""
        ...

    @property
    def rows(self) -> int:
        """Stored tiles down."""
        ...


class StoredTiles(ABC):
    """A slide's stored tiles, level by level; thread-safe where ``decode`` is."""

    def __init__(self, path: Path, levels: Sequence[Geometry]) -> None:
        self.path = Path(path)
        self._levels = levels
        self._scales: dict[int, bool] = {}  # per level: whether Pillow reads its JPEG as decode() does
        self._scales_lock = threading.Lock()

    @abstractmethod
    def decode(self, level: int, column: int, row: int) -> NDArray[np.uint8]:
        """Stored tile ``(column, row)`` of ``level`` as RGB ``(th, tw, 3)``, edge tiles uncropped;
        SlideError naming the file and the tile when it does not decode."""

    def jpeg_stream(self, level: int, column: int, row: int) -> bytes | None:
        """Stored tile ``(column, row)`` of ``level`` as one complete JPEG stream (its tables included),
        for a decoder elsewhere (nvJPEG on a GPU); ``b""`` for a tile with no data (glass); None when
        the level's tiles are not JPEG (this default: none are)."""
        return None

    def decode_scaled(self, level: int, column: int, row: int, factor: int) -> NDArray[np.uint8] | None:
        """Stored tile ``(column, row)`` of ``level`` shrunk by ``factor`` while it decodes (libjpeg's DCT
        scaling, see :mod:`.jpeg_scaling`), ``(th / factor, tw / factor, 3)``, edge tiles uncropped; None
        where that does not apply (the level is not JPEG, ``factor`` is not 2, 4 or 8 dividing the tiles,
        or Pillow does not read the level's JPEG as :meth:`decode` does): the caller decodes and shrinks.
        SlideError naming the file and the tile when it does not decode."""
        tw, th = self.tile_size(level)
        if factor not in SCALES or tw % factor or th % factor or not self._scales_agree(level):
            return None
        stream = self.jpeg_stream(level, column, row)
        if stream is None:
            return None
        if not stream:  # no data stored: glass
            return np.full((th // factor, tw // factor, 3), WHITE, dtype=np.uint8)
        where = f"tile ({column}, {row}) of level {level}"
        try:
            pixels = decode_scaled(stream, factor)
        except Exception as exc:  # Pillow raises many kinds (OSError for a truncated stream)
            raise SlideError(f"{self.path}: cannot decode {where}: {exc} (the file is corrupt)") from exc
        if pixels.shape[:2] != (th // factor, tw // factor):
            raise SlideError(
                f"{self.path}: {where} decodes to {pixels.shape[1] * factor} x {pixels.shape[0] * factor} "
                f"pixels, not the stored tile size {tw} x {th} (the file is corrupt)"
            )
        return pixels

    def _scales_agree(self, level: int) -> bool:
        """Whether Pillow decodes ``level``'s JPEG tiles at full size as :meth:`decode` does (mean difference
        under :data:`PROBE_NOISE` on :meth:`jpeg_sample`'s tile), checked once per level: a JPEG whose colour
        space the stream does not name may be read as another by a second decoder."""
        with self._scales_lock:
            if level not in self._scales:
                self._scales[level] = self._probe(level)
            return self._scales[level]

    def jpeg_sample(self, level: int) -> tuple[tuple[int, int], bytes] | None:
        """The first stored tile of ``level`` with data, row by row, as ``((column, row), JPEG stream)``, for
        checking a second decoder against :meth:`decode`; None when the level is not JPEG or holds no data."""
        columns, rows = self.tile_grid(level)
        for row in range(rows):
            for column in range(columns):
                stream = self.jpeg_stream(level, column, row)
                if stream is None:
                    return None
                if stream:
                    return (column, row), stream
        return None

    def _probe(self, level: int) -> bool:
        sample = self.jpeg_sample(level)
        if sample is None:
            return False
        key, stream = sample
        try:
            ours = decode_scaled(stream, 1)
            theirs = self.decode(level, *key)
        except Exception:  # noqa: BLE001 - a tile that does not decode is reported when it is read
            return False
        return ours.shape == theirs.shape and float(np.abs(ours.astype(np.int16) - theirs).mean()) < PROBE_NOISE

    @abstractmethod
    def close(self) -> None:
        """Release the file."""

    # --- geometry -------------------------------------------------------
    @property
    def level_count(self) -> int:
        """How many pyramid levels have stored tiles (the reader's levels)."""
        return len(self._levels)

    def tile_size(self, level: int) -> tuple[int, int]:
        """``(width, height)`` of the stored tiles of ``level``."""
        lv = self._levels[level]
        return lv.tile_width, lv.tile_height

    def tile_grid(self, level: int) -> tuple[int, int]:
        """``(columns, rows)`` of stored tiles covering ``level``."""
        lv = self._levels[level]
        return lv.columns, lv.rows

    def tiles_under(self, level: int, x: int, y: int, width: int, height: int) -> list[tuple[int, int]]:
        """``(column, row)`` of the stored tiles an in-bounds rectangle of ``level`` touches, row by row."""
        lv = self._levels[level]
        if width <= 0 or height <= 0 or x < 0 or y < 0 or x + width > lv.width or y + height > lv.height:
            raise SlideError(
                f"{self.path}: region ({x}, {y}) size {width} x {height} is not inside "
                f"level {level} ({lv.width} x {lv.height})"
            )
        tw, th = lv.tile_width, lv.tile_height
        return [
            (column, row)
            for row in range(y // th, (y + height - 1) // th + 1)
            for column in range(x // tw, (x + width - 1) // tw + 1)
        ]

    # --- pixels -----------------------------------------------------------
    def read_region(
        self,
        level: int,
        x: int,
        y: int,
        width: int,
        height: int,
        tile: Callable[[int, int], NDArray[np.uint8]] | None = None,
        out: NDArray[np.uint8] | None = None,
    ) -> NDArray[np.uint8]:
        """An in-bounds rectangle in ``level``'s own pixels, assembled from decoded tiles.

        ``tile(column, row)`` supplies each stored tile (default: decode it; a caller may serve them
        from a cache); ``out`` receives the pixels (default: a new array).
        """
        out = np.empty((height, width, 3), dtype=np.uint8) if out is None else out
        get = tile or (lambda column, row: self.decode(level, column, row))
        for key, into, part in self.pieces(level, x, y, width, height):
            out[into] = get(*key)[part]
        return out

    def pieces(self, level: int, x: int, y: int, width: int, height: int) -> list[Piece]:
        """What :meth:`read_region` copies: for each stored tile under the in-bounds rectangle, its
        ``(column, row)``, where its part goes in the rectangle and where that part lies in the stored
        tile (each ``(rows, columns)`` slices), so any array library can assemble the region."""
        lv = self._levels[level]
        tw, th = lv.tile_width, lv.tile_height
        out: list[Piece] = []
        for column, row in self.tiles_under(level, x, y, width, height):
            tx, ty = column * tw, row * th
            xa, xb = max(x, tx), min(x + width, tx + tw)
            ya, yb = max(y, ty), min(y + height, ty + th)
            into = (slice(ya - y, yb - y), slice(xa - x, xb - x))
            out.append(((column, row), into, (slice(ya - ty, yb - ty), slice(xa - tx, xb - tx))))
        return out

    def __enter__(self) -> StoredTiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, levels={self.level_count})"
