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

    def _clipped(self, tile: Tile) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
        """``tile``'s region (x, y, w, h) in the level's pixels (may pass the edge), and the part of it
        inside the level (x0, y0, x1, y1), empty when it lies wholly outside."""
        w, h = region_size(tile.extent, self.downsample)
        x, y = math.floor(tile.x / self.downsample), math.floor(tile.y / self.downsample)
        lw, lh = self.level_size
        return (x, y, w, h), (max(x, 0), max(y, 0), min(x + w, lw), min(y + h, lh))

    def _keys(self, tile: Tile) -> list[Key]:
        _, (x0, y0, x1, y1) = self._clipped(tile)
        if x1 <= x0 or y1 <= y0 or self.native is None:
            return []
        return self.native.tiles_under(self.level, x0, y0, x1 - x0, y1 - y0)

    def read(self, tile: Tile) -> NDArray[np.uint8]:
        """``tile``'s region at the read level, ``(h, w, 3)`` uint8; glass (white) past the slide's edge."""
        (x, y, w, h), (x0, y0, x1, y1) = self._clipped(tile)
        if self.native is None:
            return self.slide.read_region((tile.x, tile.y), self.level, (w, h))
        out = np.full((h, w, 3), WHITE, dtype=np.uint8)
        if x1 > x0 and y1 > y0:
            self.native.read_region(self.level, x0, y0, x1 - x0, y1 - y0, tile=self._take,
                                    out=out[y0 - y : y1 - y, x0 - x : x1 - x])
        return out

    def _take(self, column: int, row: int) -> NDArray[np.uint8]:
        """A stored tile for one use: decoded once, dropped from the cache after its last use."""
        key = (column, row)
        try:
            return self._get(key)
        finally:
            self._release(key)

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
