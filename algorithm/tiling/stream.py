"""Tile streaming: read (and normalise) tiles in a background thread, in batches.

The model should never wait for the disk. A producer thread reads the grid's
tiles, applies an optional CPU ``transform`` (e.g. stain normalisation) and puts
ready batches into a bounded queue; the consumer runs the model. Memory is
bounded by ``prefetch`` batches, whatever the slide's size. Errors in the
producer surface in the consumer, and closing the stream early stops the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from algorithm.slide.base import SlideReader
from algorithm.tiling.grid import Tile, TileGrid
from algorithm.tiling.read import read_tile

BatchTransform = Callable[[NDArray[np.uint8]], NDArray[np.uint8]]


@dataclass(frozen=True)
class TileBatch:
    tiles: tuple[Tile, ...]
    pixels: NDArray[np.uint8]  # (N, H, W, 3)


_DONE = object()


def stream_batches(
    slide: SlideReader,
    grid: TileGrid,
    batch_size: int,
    transform: BatchTransform | None = None,
    prefetch: int = 2,
) -> Iterator[TileBatch]:
    """Yield the grid's tiles in order, ``batch_size`` at a time, read ahead by a thread."""
    ready: queue.Queue[object] = queue.Queue(maxsize=max(1, prefetch))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            tiles = grid.tiles
            for start in range(0, len(tiles), batch_size):
                chunk = tiles[start : start + batch_size]
                pixels = np.stack([read_tile(slide, grid, tile) for tile in chunk])
                if transform is not None:
                    pixels = transform(pixels)
                if not put(TileBatch(tiles=tuple(chunk), pixels=pixels)):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)

    worker = threading.Thread(target=produce, name="tile-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=10)
