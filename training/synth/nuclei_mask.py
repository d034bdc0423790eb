"""The nuclei mask file ``<name>.nuclei-mask.tiff``, streamed tile by tile as the slide is rendered.

A single-page tiled TIFF on the slide's level-0 grid (width x height of level 0):
uint8, 255 on every nucleus the renderer drew, 0 elsewhere; pixel (r, c) is
level-0 pixel (x = c, y = r). Its tiles are the slide's level-0 tiles, deflated,
and it carries the slide's resolution (pixels per centimetre, as the slide's
level 0), so a viewer or reader lays it on the slide. What counts as a nucleus:
:func:`training.synth.drawing.draw_nuclei_mask`.

tifffile writes it: ``TiffWriter.write`` takes the tiles as an iterator, and the
slide's own writer is already consuming the render, so the mask is written by a
second thread that takes the tiles from a bounded queue as the generator hands
them over (the same pass renders the slide's pixels and the mask; nothing is
rendered twice). Memory is therefore a few tiles, whatever the slide's size, and
the file is written atomically. Fixed compression level, no date, fixed software
tag: the same slide gives the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator

import numpy as np
import tifffile

from algorithm.io.atomic import atomic_path

ZLIB_LEVEL = 6
NUCLEI_MASK_SUFFIX = ".nuclei-mask"  # <stem>.nuclei-mask.tiff: the mask of the slide <stem>.tiff
QUEUE_TILES = 16  # tiles rendered but not yet compressed, at most (a 512 px tile is 256 kB)


class _Aborted(Exception):
    """In the writer thread: the tiles stopped coming (an error in the generator), so no file."""


def nuclei_mask_name(slide_stem: str) -> str:
    """The mask's file name for the slide ``<slide_stem>.tiff``."""
    return f"{slide_stem}{NUCLEI_MASK_SUFFIX}.tiff"


class MaskTiles:
    """Receives the level-0 tiles of a binary mask in row-major order; a thread writes them to the TIFF.

    Use through :func:`nuclei_mask_writer`, which waits for the file at the end of its block.
    """

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, mpp: float, tile: int):
        if not (0 < width < 2**31 and 0 < height < 2**31):
            raise ValueError(f"mask size must be positive, got {width}x{height}")
        if tile <= 0 or tile % 16:
            raise ValueError(f"mask tile size must be a positive multiple of 16 (TIFF), got {tile}")
        self.width, self.height, self.tile = width, height, tile
        self.foreground = 0  # nucleus pixels handed over so far
        self._x = 0  # where the next tile starts, level-0 px
        self._y = 0
        self._queue: queue.Queue[np.ndarray | _Aborted] = queue.Queue(maxsize=QUEUE_TILES)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._write, args=(path, mpp), name="nuclei-mask-writer", daemon=True)
        self._thread.start()

    def add(self, x: int, y: int, tile: np.ndarray) -> None:
        """The mask (bool or 0/1, (h, w)) of the tile at level-0 ``(x, y)``: the next tile in row-major order.

        Tiles are the TIFF's: ``tile`` x ``tile`` px, smaller only at the right and bottom edges.
        """
        h, w = tile.shape
        expected_w, expected_h = min(self.tile, self.width - self._x), min(self.tile, self.height - self._y)
        if (x, y, w, h) != (self._x, self._y, expected_w, expected_h) or self._closed:
            raise ValueError(
                f"mask tile {w}x{h} at ({x}, {y}) is out of order: expected one {expected_w}x{expected_h} "
                f"at ({self._x}, {self._y}) within {self.width}x{self.height}"
            )
        fg = np.asarray(tile, dtype=bool)
        self.foreground += int(np.count_nonzero(fg))
        self._put(fg * np.uint8(255))
        self._x += w
        if self._x == self.width:
            self._x, self._y = 0, y + h

    def finish(self) -> None:
        """Wait for the file; ValueError if tiles are missing (then no file), the writer's error if it failed.

        The writer ends by itself: tifffile takes as many tiles as the image has, then completes the file.
        """
        if self._y != self.height:
            self.close()
            raise ValueError(f"mask incomplete: rows {self._y} of {self.height} written")
        self._closed = True
        self._thread.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the writer without a file unless :meth:`finish` completed it (idempotent)."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self._put(_Aborted("the mask's tiles stopped coming"))
        self._thread.join()

    def _put(self, item: np.ndarray | _Aborted) -> None:
        """Queue ``item`` for the writer, waiting while the queue is full; the writer's error if it stopped."""
        while True:
            if self._error is not None or not self._thread.is_alive():
                raise self._error or RuntimeError("the nuclei mask writer stopped")
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _tiles(self) -> Iterator[np.ndarray]:
        while True:
            item = self._queue.get()
            if isinstance(item, _Aborted):
                raise item
            yield item

    def _write(self, path: str | os.PathLike[str], mpp: float) -> None:
        """The writer thread: the tiles from the queue into the TIFF, atomically."""
        try:
            ppcm = 1e4 / mpp
            bigtiff = self.width * self.height * 1.1 > 2**31  # deflate never grows a tile by more than a little
            with atomic_path(path) as tmp, tifffile.TiffWriter(tmp, bigtiff=bigtiff) as tw:
                tw.write(
                    self._tiles(),
                    shape=(self.height, self.width),
                    dtype=np.uint8,
                    tile=(self.tile, self.tile),
                    photometric="minisblack",
                    compression="zlib",
                    compressionargs={"level": ZLIB_LEVEL},
                    resolution=(ppcm, ppcm),
                    resolutionunit="CENTIMETER",
                    metadata=None,
                    software="training.synth",
                    maxworkers=1,
                )
        except BaseException as error:  # raised in the generator's thread (by add or finish)
            self._error = error


@contextlib.contextmanager
def nuclei_mask_writer(
    path: str | os.PathLike[str], width: int, height: int, mpp: float, tile: int
) -> Iterator[MaskTiles]:
    """Write the mask TIFF at ``path`` (``mpp`` um per pixel, ``tile`` px tiles) from the tiles given to the
    yielded :class:`MaskTiles`, atomically: the file appears complete when the block ends, or not at all
    (an error, or tiles missing)."""
    tiles = MaskTiles(path, width, height, mpp, tile)
    try:
        yield tiles
        tiles.finish()
    finally:
        tiles.close()
