"""Reading a grid's tiles with every stored tile of the file decoded once.

Overlapping grid tiles share the file's stored (JPEG) tiles: read region by
region, a stored tile is decoded again for each grid tile that touches it (up
to four times and more). Where the slide can hand out its stored tiles
(``SlideReader.native_tiles``: TIFF-family files), the reader plans which
stored tiles each grid tile needs, decodes each once (the first worker to need
it; the others wait for that decode) and drops it when the last grid tile that
needs it has been assembled (reference counts, so the order in which workers
finish does not matter). Memory: the stored tiles under the rows being read.
Elsewhere (OpenSlide-only formats, ITK images) regions are read through the
reader as before.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from algorithm.slide.base import WHITE, SlideReader
from algorithm.tiling.grid import Tile, TileGrid
from algorithm.tiling.read import region_size

Key = tuple[int, int]  # (column, row) of a stored tile at the grid's level


class _Decoded:
    """One stored tile: decoded by the first worker that needs it, awaited by the others."""

    __slots__ = ("ready", "pixels", "error")

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.pixels: NDArray[np.uint8] | None = None
        self.error: BaseException | None = None


class RegionReader:
    """The pixels of a grid's tiles at the grid's read level (before resampling); thread-safe."""

    def __init__(self, slide: SlideReader, grid: TileGrid) -> None:
        self.slide = slide
        self.level = grid.level
        self.downsample = float(slide.level_downsamples[grid.level])
        self.level_size = slide.level_dimensions[grid.level]
        self.native = slide.native_tiles()
        self._lock = threading.Lock()
        self._cache: dict[Key, _Decoded] = {}
        self._uses: Counter[Key] = Counter()
        if self.native is not None:
            self._stored = self.native.tile_size(self.level)
            for tile in grid.tiles:
                self._uses.update(self._keys(tile))
        self.decoded = 0  # stored tiles decoded (each once)

    @property
    def concurrent(self) -> bool:
        """Whether several threads may read at once (else the engine reads with one worker)."""
        return self.native is not None or self.slide.concurrent_reads

    @property
    def cached(self) -> int:
        """Stored tiles held now (decoded, still needed)."""
        return len(self._cache)

    def _box(self, tile: Tile) -> tuple[int, int, int, int]:
        """(x, y, width, height) of ``tile``'s region in the level's pixels (may pass the edge)."""
        w, h = region_size(tile.extent, self.downsample)
        return math.floor(tile.x / self.downsample), math.floor(tile.y / self.downsample), w, h

    def _keys(self, tile: Tile) -> Iterator[Key]:
        x, y, w, h = self._box(tile)
        lw, lh = self.level_size
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, lw), min(y + h, lh)
        if x1 <= x0 or y1 <= y0:
            return
        tw, th = self._stored
        for row in range(y0 // th, (y1 - 1) // th + 1):
            for column in range(x0 // tw, (x1 - 1) // tw + 1):
                yield column, row

    def read(self, tile: Tile) -> NDArray[np.uint8]:
        """``tile``'s region at the read level, ``(h, w, 3)`` uint8; glass (white) past the slide's edge."""
        x, y, w, h = self._box(tile)
        if self.native is None:
            return self.slide.read_region((tile.x, tile.y), self.level, (w, h))
        out = np.full((h, w, 3), WHITE, dtype=np.uint8)
        lw, lh = self.level_size
        tw, th = self._stored
        for key in list(self._keys(tile)):
            column, row = key
            try:
                stored = self._get(key)
                sx, sy = column * tw, row * th
                xa, xb = max(x, sx), min(x + w, sx + tw, lw)
                ya, yb = max(y, sy), min(y + h, sy + th, lh)
                out[ya - y : yb - y, xa - x : xb - x] = stored[ya - sy : yb - sy, xa - sx : xb - sx]
            finally:
                self._release(key)
        return out

    def _get(self, key: Key) -> NDArray[np.uint8]:
        with self._lock:
            entry = self._cache.get(key)
            owner = entry is None
            if owner:
                entry = self._cache[key] = _Decoded()
        assert entry is not None
        if owner:
            try:
                entry.pixels = self.native.decode(self.level, *key)  # type: ignore[union-attr]
                with self._lock:
                    self.decoded += 1
            except BaseException as exc:
                entry.error = exc
                raise
            finally:
                entry.ready.set()
        else:
            entry.ready.wait()
            if entry.error is not None:
                raise entry.error
        assert entry.pixels is not None
        return entry.pixels

    def _release(self, key: Key) -> None:
        with self._lock:
            self._uses[key] -= 1
            if self._uses[key] <= 0:
                self._cache.pop(key, None)
                del self._uses[key]
