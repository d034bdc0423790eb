"""Reading a grid's tiles with every stored tile of the file decoded once.

Overlapping grid tiles share the file's stored (JPEG) tiles: read region by
region, a stored tile is decoded again for each grid tile that touches it (up
to four times and more). Where the slide can hand out its stored tiles
(``SlideReader.native_tiles``: TIFF-family and DICOM files), the reader plans which
stored tiles each grid tile needs, decodes each once (the first worker to need
it; the others wait for that decode) and drops it when the last grid tile that
needs it has been assembled (reference counts, so the order in which workers
finish does not matter). Memory: the stored tiles under the rows being read.
Elsewhere (OpenSlide-only formats, ITK images) regions are read through the
reader as before.

When the grid's tiles are the stored tiles' pixels shrunk by a whole factor k
(1, 2, 4 ...: e.g. 0.5 um/px tiles from a 0.25 um/px level) and start on k x k
blocks, a tile's pixels depend only on the blocks under it. Each stored tile is
then shrunk once, and mapped once by a per-pixel colour map (the slide's fixed
stain normalisation), before the grid tiles are cut from it: the same bytes as
reading, shrinking and mapping each overlapping tile, with each pixel shrunk and
mapped once instead of once per tile that covers it; a worker about to read a run
of neighbouring tiles claims the new stored tiles under them and maps them in one
call (:meth:`RegionReader.prefetch`). With ``jpeg_scaling`` (the
engine's default for detection) a JPEG stored tile is shrunk while it decodes
(libjpeg's DCT scaling: twice as fast, within decoder noise of the box shrink).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from algorithm.slide.base import WHITE, SlideReader
from algorithm.slide.resample import reduce_box, region_size, resample
from algorithm.tiling.grid import Tile, TileGrid

Key = tuple[int, int]  # (column, row) of a stored tile at the grid's level
PixelMap = Callable[[NDArray[np.uint8]], NDArray[np.uint8]]  # a function of each pixel's colour alone


class _Decoded:
    """One stored tile: decoded by the first worker that needs it, awaited by the others."""

    __slots__ = ("ready", "pixels", "error")

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.pixels: NDArray[np.uint8] | None = None
        self.error: BaseException | None = None


class RegionReader:
    """A grid's tiles: regions at the grid's read level (:meth:`read`), or pixels at the grid's
    resolution, mapped by ``pixel_map`` when given (:meth:`read_tile`); thread-safe.

    ``pixel_map`` must depend on each pixel's colour alone (e.g. a fitted
    normaliser's map): it may be applied to stored tiles before they are cut.
    ``tilewise=False`` keeps stored tiles as decoded, for callers of :meth:`read`
    (the device path, which resamples on the device). ``jpeg_scaling``: stored
    JPEG tiles are shrunk while they decode (:mod:`algorithm.slide.jpeg_scaling`:
    twice as fast, within decoder noise of the exact box shrink); False: the
    box shrink's bytes exactly.
    """

    def __init__(
        self,
        slide: SlideReader,
        grid: TileGrid,
        pixel_map: PixelMap | None = None,
        tilewise: bool = True,
        jpeg_scaling: bool = True,
    ) -> None:
        self.slide = slide
        self.jpeg_scaling = jpeg_scaling
        self.level = grid.level
        self.downsample = float(slide.level_downsamples[grid.level])
        self.level_size = slide.level_dimensions[grid.level]
        self.native = slide.native_tiles()
        self.pixel_map = pixel_map
        self.factor = self._whole_factor(grid) if tilewise else None
        self._blank: NDArray[np.uint8] | None = None  # a block of glass, shrunk and mapped
        self._lock = threading.Lock()
        self._cache: dict[Key, _Decoded] = {}
        self._uses: Counter[Key] = Counter()
        for tile in grid.tiles:
            self._uses.update(self.keys(tile))
        self.decoded = 0  # stored tiles decoded (each once)

    @property
    def concurrent(self) -> bool:
        """Whether several threads may read at once (else the engine reads with one worker)."""
        return self.native is not None or self.slide.concurrent_reads

    def _whole_factor(self, grid: TileGrid) -> int | None:
        """k when every tile is its region shrunk by k (a power of two dividing the stored tiles)
        from a block-aligned origin; None otherwise (regions are read and resampled one by one)."""
        if self.native is None or not grid.tiles:
            return None
        first = grid.tiles[0]
        w, h = first.extent[0] / self.downsample, first.extent[1] / self.downsample
        k = int(w) // first.size[0]
        if k < 1 or k & (k - 1) or (w, h) != (k * first.size[0], k * first.size[1]):
            return None
        tw, th = self.native.tile_size(self.level)
        if tw % k or th % k:
            return None
        for tile in grid.tiles:
            x, y = tile.x / self.downsample, tile.y / self.downsample
            if tile.extent != first.extent or tile.size != first.size or x % k or y % k:
                return None
        return k

    @property
    def cached(self) -> int:
        """Stored tiles held now (decoded, still needed)."""
        return len(self._cache)

    def clipped(self, tile: Tile) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
        """``tile``'s region (x, y, w, h) in the level's pixels (may pass the edge), and the part of it
        inside the level (x0, y0, x1, y1), empty when it lies wholly outside."""
        w, h = region_size(tile.extent, self.downsample)
        x, y = math.floor(tile.x / self.downsample), math.floor(tile.y / self.downsample)
        lw, lh = self.level_size
        return (x, y, w, h), (max(x, 0), max(y, 0), min(x + w, lw), min(y + h, lh))

    def keys(self, tile: Tile) -> list[Key]:
        """The stored tiles under ``tile``'s region inside the level, row by row ([] without stored tiles)."""
        _, (x0, y0, x1, y1) = self.clipped(tile)
        if x1 <= x0 or y1 <= y0 or self.native is None:
            return []
        return self.native.tiles_under(self.level, x0, y0, x1 - x0, y1 - y0)

    def read(self, tile: Tile, out: NDArray[np.uint8] | None = None) -> NDArray[np.uint8]:
        """``tile``'s region at the read level, ``(h, w, 3)`` uint8; glass (white) past the slide's edge.

        ``out``: an array of that shape to fill (e.g. a pinned batch slot), returned."""
        if self.factor is not None:
            raise RuntimeError("a tile-wise reader holds shrunk stored tiles: use read_tile")
        (x, y, w, h), (x0, y0, x1, y1) = self.clipped(tile)
        if self.native is None:
            region = self.slide.read_region((tile.x, tile.y), self.level, (w, h))
            if out is None:
                return region
            out[...] = region
            return out
        if out is None:
            out = np.empty((h, w, 3), dtype=np.uint8)
        if (x0, y0, x1, y1) != (x, y, x + w, y + h):  # partly past the edge
            out[...] = WHITE
        if x1 > x0 and y1 > y0:
            self.native.read_region(
                self.level, x0, y0, x1 - x0, y1 - y0, tile=self._take, out=out[y0 - y : y1 - y, x0 - x : x1 - x]
            )
        return out

    def read_tile(self, tile: Tile) -> NDArray[np.uint8]:
        """``tile``'s pixels at the grid's resolution, ``(h, w, 3)`` uint8, mapped by ``pixel_map``."""
        if self.factor is None:
            pixels = resample(self.read(tile), tile.extent, self.downsample, tile.size)
            return pixels if self.pixel_map is None else self.pixel_map(pixels)
        k = self.factor
        (x, y, _, _), (x0, y0, x1, y1) = self.clipped(tile)
        w, h = tile.size
        out = np.empty((h, w, 3), dtype=np.uint8)
        if (x0, y0, x1, y1) != (x, y, x + w * k, y + h * k):  # partly past the edge (else the stored tiles fill it)
            out[...] = self._glass()
        if x1 <= x0 or y1 <= y0:
            return out
        assert self.native is not None
        tw, th = self.native.tile_size(self.level)
        for column, row in self.native.tiles_under(self.level, x0, y0, x1 - x0, y1 - y0):
            stored = self._take(column, row)  # shrunk by k and mapped
            tx, ty = column * tw, row * th
            xa, xb = max(x, tx), min(x + w * k, tx + tw)  # all multiples of k
            ya, yb = max(y, ty), min(y + h * k, ty + th)
            out[(ya - y) // k : (yb - y) // k, (xa - x) // k : (xb - x) // k] = stored[
                (ya - ty) // k : (yb - ty) // k, (xa - tx) // k : (xb - tx) // k
            ]
        return out

    def _glass(self) -> NDArray[np.uint8]:
        """What a block wholly past the slide's edge becomes: white, mapped."""
        if self._blank is None:
            white = np.full((1, 1, 3), WHITE, dtype=np.uint8)
            self._blank = white if self.pixel_map is None else self.pixel_map(white)
        return self._blank

    def prefetch(self, tiles: Sequence[Tile]) -> None:
        """Decode the stored tiles under ``tiles`` that no worker has claimed yet, and map them in one call.

        For a worker about to read a run of neighbouring tiles (tile-wise readers with a pixel map only;
        otherwise nothing happens). A stored tile's colours are mapped through the memoised colour table,
        and a call that meets new colours costs a fixed few hundred microseconds, GIL held, beside the
        colours themselves: a slide's first calls almost all do. One call for the run's new stored tiles
        instead of one each divides that by the run's length. The same bytes as mapping each alone.
        """
        if self.factor is None or self.pixel_map is None:
            return
        claimed = self._claim(dict.fromkeys(key for tile in tiles for key in self.keys(tile)))
        if claimed:
            self._fill(claimed)

    def _claim(self, keys: Iterable[Key]) -> dict[Key, _Decoded]:
        """Entries for those of ``keys`` no worker has claimed yet, now this worker's to fill."""
        with self._lock:
            claimed = {key: _Decoded() for key in keys if key not in self._cache}
            self._cache.update(claimed)
        return claimed

    def _fill(self, claimed: dict[Key, _Decoded]) -> None:
        """Decode the claimed stored tiles (tile-wise: shrunk, then mapped in one call) and hand them to the
        workers waiting on them; a failure is raised here and in each of them."""
        try:
            if self.factor is None:
                assert self.native is not None
                pixels = [self.native.decode(self.level, *key) for key in claimed]
            else:
                pixels = self._map_all([self._shrunk(*key) for key in claimed])
            for entry, tile in zip(claimed.values(), pixels, strict=True):
                entry.pixels = tile
            with self._lock:
                self.decoded += len(claimed)
        except BaseException as exc:
            for entry in claimed.values():
                entry.error = exc
            raise
        finally:
            for entry in claimed.values():
                entry.ready.set()

    def _map_all(self, stored: list[NDArray[np.uint8]]) -> list[NDArray[np.uint8]]:
        """``pixel_map`` of each stored tile: one call for tiles of one shape (a map of each pixel alone)."""
        if self.pixel_map is None:
            return stored
        if len(stored) == 1 or len({p.shape for p in stored}) > 1:
            return [self.pixel_map(p) for p in stored]
        # copies: a view would keep the whole stack alive while any one of its tiles is still cached
        return [tile.copy() for tile in self.pixel_map(np.stack(stored))]

    def _shrunk(self, column: int, row: int) -> NDArray[np.uint8]:
        """A stored tile with glass past the level's edge, shrunk by k (not mapped)."""
        assert self.native is not None and self.factor is not None
        tw, th = self.native.tile_size(self.level)
        lw, lh = self.level_size
        inside_w, inside_h = min(tw, lw - column * tw), min(th, lh - row * th)
        edge = inside_w < tw or inside_h < th
        pixels = None
        if self.jpeg_scaling and self.factor > 1 and not edge:  # (an edge tile's glass is painted before the shrink)
            pixels = self.native.decode_scaled(self.level, column, row, self.factor)
        if pixels is None:
            pixels = self.native.decode(self.level, column, row)
            if edge:  # what an edge tile stores past the edge is not the slide
                pixels[inside_h:] = WHITE
                pixels[:, inside_w:] = WHITE
            pixels = reduce_box(pixels, self.factor)
        return pixels

    def _take(self, column: int, row: int) -> NDArray[np.uint8]:
        """A stored tile for one use: decoded once, dropped from the cache after its last use."""
        key = (column, row)
        try:
            return self._get(key)
        finally:
            self._release(key)

    def _get(self, key: Key) -> NDArray[np.uint8]:
        with self._lock:  # claim it, or find the worker's entry that did
            entry = self._cache.get(key)
            owner = entry is None
            if owner:
                entry = self._cache[key] = _Decoded()
        assert entry is not None
        if owner:
            self._fill({key: entry})
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
