"""Per-pixel colour maps and their 256^3 lookup tables.

Once a normaliser's source and target are fixed (per slide), its output for a
pixel depends on nothing but that pixel's RGB value. There are only 2^24 RGB
values, so on the CPU the fastest exact implementation is to compute the map
once for every colour (64 MiB; 1-2 s for Macenko/Vahadane, 2-4 s for Reinhard
on two CPU cores, once per slide) and then gather from the table: one pass to
form each pixel's 24-bit index, one gather. A slide's tiles use a small share
of those colours, so by default the table is filled as colours occur
(:class:`MemoTable`) rather than built whole up front (:class:`LookupTable`).
On a GPU the direct computation is already memory-bound and needs no table.

The table holds exactly what the direct computation returns (same code, same
dtype), so the two paths agree bit for bit (tested).
"""

from __future__ import annotations

import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache

import numpy as np
import torch
from numpy.typing import NDArray

N_COLOURS = 1 << 24
# Pixels per step on the CPU. Below torch's intra-op grain size (32768
# elements) every op runs inline in the calling thread: no OpenMP barrier, which
# on a shared 2-core machine with a busy core turns each parallel op into a
# wait for a time slice (measured 20-50x slower). Parallelism comes from
# :func:`run_chunked`'s Python threads instead (torch ops release the GIL).
CPU_CHUNK = 8192
LUT_CHUNK = 1 << 18  # table look-ups are numpy (single-threaded ops): bigger steps, less overhead
GPU_CHUNK = 1 << 22  # bounds temporaries on the GPU

_local = threading.local()
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="stain", initializer=_mark_serial)
            _pool_size = workers
        return _pool


def _mark_serial() -> None:
    _local.serial = True  # a pool thread: maps it runs must not fan out to the pool again


@contextmanager
def serial() -> Iterator[None]:
    """Maps called in this thread run in it alone (the tile engine's workers are the parallelism)."""
    before = getattr(_local, "serial", False)
    _local.serial = True
    try:
        yield
    finally:
        _local.serial = before


def run_chunked(fn: Callable[[int, int], None], n: int, device: torch.device, chunk: int = CPU_CHUNK) -> None:
    """Call ``fn(start, stop)`` over ``[0, n)`` in chunks.

    On the CPU: ``chunk``-sized steps spread over ``torch.get_num_threads()``
    Python threads (each takes every k-th step); elsewhere: few large steps in
    this thread.
    """
    if device.type != "cpu":
        for s in range(0, n, GPU_CHUNK):
            fn(s, min(s + GPU_CHUNK, n))
        return
    starts = range(0, n, chunk)
    workers = min(torch.get_num_threads(), len(starts))
    if workers <= 1 or getattr(_local, "serial", False):
        for s in starts:
            fn(s, min(s + chunk, n))
        return

    def job(k: int) -> None:
        for s in starts[k::workers]:
            fn(s, min(s + chunk, n))

    for f in [_executor(workers).submit(job, k) for k in range(workers)]:
        f.result()  # re-raises a worker's exception


class PixelMap(ABC):
    """A fixed function uint8 RGB -> uint8 RGB, applied to ``(P, 3)`` pixels."""

    @abstractmethod
    def apply(self, px: torch.Tensor) -> torch.Tensor:
        """Map ``(P, 3)`` uint8 pixels (any device) to new ``(P, 3)`` uint8 pixels."""

    def apply_numpy(self, px: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """:meth:`apply` of ``(P, 3)`` uint8 numpy pixels, in this thread (the memo table's fills).

        Subclasses with a numpy implementation override it: a fill is a few hundred colours, where
        the wrapping around :meth:`apply` costs more than the map itself.
        """
        return self.apply(torch.from_numpy(px)).numpy()

    def apply_block(self, start: int, stop: int, device: torch.device) -> torch.Tensor:
        """The map of the colours with indices ``start..stop`` (``r | g << 8 | b << 16``).

        Subclasses may exploit the block's regular structure, but must return
        exactly what :meth:`apply` returns for those colours.
        """
        i = torch.arange(start, stop, dtype=torch.int32, device=device)
        colours = torch.stack((i & 255, (i >> 8) & 255, i >> 16), dim=1).to(torch.uint8)
        return self.apply(colours)

    def __call__(self, px: torch.Tensor) -> torch.Tensor:
        """Direct computation in chunks (bounded memory, cache-friendly)."""
        out = torch.empty_like(px)

        def step(s: int, e: int) -> None:
            out[s:e] = self.apply(px[s:e])

        run_chunked(step, px.shape[0], px.device)
        return out


def _colour_index_little_endian() -> bool:
    return sys.byteorder == "little"


def _index_from_bytes(px: torch.Tensor) -> torch.Tensor:
    """Colour index of contiguous CPU pixels without copying them first.

    Pixel i's bytes start at offset 3i; the little-endian uint32 read there is
    ``r | g << 8 | b << 16 | (next pixel's r) << 24``, so masking the top byte
    leaves the index: one strided (unaligned) read and one AND per pixel. The
    last pixel, whose 4-byte read would run past the buffer, is done alone.
    """
    a = px.numpy()
    n = a.shape[0]
    words = np.ndarray(shape=(n - 1,), dtype="<u4", buffer=a, offset=0, strides=(3,))
    idx = np.empty(n, np.int32)
    np.bitwise_and(words, 0xFFFFFF, out=idx[:-1], casting="unsafe")
    r, g, b = (int(v) for v in a[-1])
    idx[-1] = r | (g << 8) | (b << 16)
    return torch.from_numpy(idx)


class LookupTable:
    """The map evaluated at every RGB value, indexed by ``r | g << 8 | b << 16``.

    Entries are packed as int32 (bytes ``[r, g, b, 0]``): gathering 4-byte
    elements is 2-3x faster in torch than gathering 3-byte rows.
    """

    def __init__(self, pixel_map: PixelMap, device: torch.device | str = "cpu"):
        device = torch.device(device)
        table = torch.zeros((N_COLOURS, 4), dtype=torch.uint8, device=device)

        def step(s: int, e: int) -> None:
            table[s:e, :3] = pixel_map.apply_block(s, e, device)

        run_chunked(step, N_COLOURS, device)
        self.table = table.view(torch.int32).view(-1)
        self.device = device

    @staticmethod
    def index(px: torch.Tensor) -> torch.Tensor:
        """24-bit colour index ``r | g << 8 | b << 16`` of ``(P, 3)`` uint8 pixels (int32)."""
        if _colour_index_little_endian():
            if px.device.type == "cpu" and px.is_contiguous() and px.shape[0] > 1:
                return _index_from_bytes(px)
            # Copy each pixel into 4 bytes [r, g, b, 0] and read them as one int32.
            buf = torch.zeros((px.shape[0], 4), dtype=torch.uint8, device=px.device)
            buf[:, :3] = px
            return buf.view(torch.int32).view(-1)
        x = px.to(torch.int32)
        return x[:, 0] | (x[:, 1] << 8) | (x[:, 2] << 16)

    def __call__(self, px: torch.Tensor) -> torch.Tensor:
        """Map ``(P, 3)`` uint8 pixels through the table (numpy gathers on the CPU, index_select elsewhere)."""
        if px.device.type == "cpu":  # numpy all the way: strided index read, take, strided store (no OpenMP)
            table = self.table.numpy()
            return _gather_words(px, lambda idx: np.take(table, idx))
        out = torch.empty_like(px)

        def step(s: int, e: int) -> None:
            words = torch.index_select(self.table, 0, self.index(px[s:e]))
            out[s:e] = words.view(torch.uint8).view(-1, 4)[:, :3]

        run_chunked(step, px.shape[0], px.device, LUT_CHUNK)
        return out


class MemoTable:
    """The map memoised per colour: a 256^3 table filled only with the colours that occur.

    A slide's tiles hold far fewer distinct colours than 2^24 and repeat them
    endlessly, so each colour is computed once, when first seen (the direct
    map on the missing colours), and gathered from the table ever after. No
    up-front build, never more work than the full table, and exactly its
    values (the same map on the same colours). Safe to share between threads:
    two threads that miss the same colour write the same word. CPU only (numpy).
    """

    MISSING = 0  # a filled entry is [r, g, b, 1] read as int32: never 0 (the 1 is never stored in pixels)

    def __init__(self, pixel_map: PixelMap):
        self.pixel_map = pixel_map
        # zeros: the OS hands out zeroed pages as they are first touched, so the 64 MiB cost nothing up front
        self.table = np.zeros(N_COLOURS, dtype=np.int32)

    @property
    def filled(self) -> int:
        """Colours computed so far."""
        return int(np.count_nonzero(self.table != self.MISSING))

    def _words(self, idx: NDArray[np.int32]) -> NDArray[np.int32]:
        words = np.take(self.table, idx)
        missing = words == self.MISSING
        if missing.any():
            # A call's few hundred new colours are mapped with their repeats, by the map's numpy code in this
            # thread: mapping a colour twice costs less than de-duplicating (a sort), the cost being mostly
            # per call. Beyond one map step (a slide's first tiles), de-duplicated and mapped in steps.
            repeats = idx[missing]
            colours = distinct(repeats) if len(repeats) > CPU_CHUNK else repeats
            rgb = np.stack((colours & 255, (colours >> 8) & 255, colours >> 16), axis=1).astype(np.uint8)
            mapped = np.ones((len(colours), 4), np.uint8)
            mapped[:, :3] = self.pixel_map.apply_numpy(rgb) if len(rgb) <= CPU_CHUNK else self._map(rgb)
            new = mapped.view(np.int32).reshape(-1)
            self.table[colours] = new  # a repeated colour writes the same word again
            words[missing] = new if colours is repeats else np.take(self.table, repeats)
        return words

    def _map(self, rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Many colours at once (a slide's first tiles): in chunks, over the stain pool unless serial."""
        return self.pixel_map(torch.from_numpy(rgb)).numpy()

    def __call__(self, px: torch.Tensor) -> torch.Tensor:
        """Map ``(P, 3)`` uint8 CPU pixels, computing the colours not seen before."""
        if px.device.type != "cpu":
            raise ValueError("the memoised colour table runs on the CPU; map device tensors directly")
        return _gather_words(px.contiguous(), self._words)


def distinct(values: NDArray[np.int32]) -> NDArray[np.int32]:
    """``np.unique(values)`` (sorted), through one plain sort: numpy's unique took 5x longer here
    (15 ms against 3 ms for 200,000 colours), and a slide's first fills de-duplicate that many."""
    ordered = np.sort(values)
    keep = np.empty(len(ordered), dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _gather_words(px: torch.Tensor, words_of: Callable[[NDArray[np.int32]], NDArray[np.int32]]) -> torch.Tensor:
    """CPU pixels ``(P, 3)`` mapped through a table: ``words_of`` turns colour indices into table words
    ``[r, g, b, 0]``, written back as pixels; in ``LUT_CHUNK`` steps over the CPU threads."""
    out = torch.empty(px.shape, dtype=torch.uint8)  # contiguous, whatever px's strides: the stores need it
    strided = _colour_index_little_endian() and _overlapping_store_works()

    def step(s: int, e: int) -> None:
        words = words_of(LookupTable.index(px[s:e]).numpy())
        if strided and e - s > 1:
            _store_words(out[s:e], torch.from_numpy(words))
        else:  # a 1-pixel last step (no room for a 4-byte store), or a machine where strided stores fail
            out[s:e] = torch.from_numpy(words.view(np.uint8).reshape(-1, 4)[:, :3].copy())

    run_chunked(step, px.shape[0], px.device, LUT_CHUNK)
    return out


def _store_words(out: torch.Tensor, words: torch.Tensor) -> None:
    """Write int32 words ``[r, g, b, 0]`` into contiguous uint8 ``(n, 3)`` pixels.

    Each word is stored at byte 3i, its spare top byte landing on pixel i+1's
    red, which the next (sequential) store overwrites; the last pixel is written
    alone. One strided store instead of a 3-of-4-byte copy.
    """
    o = out.numpy()
    w = words.numpy()
    n = o.shape[0]
    dst = np.ndarray(shape=(n - 1,), dtype="<u4", buffer=o, offset=0, strides=(3,))
    dst[...] = w[:-1]
    o[n - 1] = w[n - 1 :].view(np.uint8)[:3]


@cache
def _overlapping_store_works() -> bool:
    """Check once that numpy stores overlapping strided words in order (else use the safe copy)."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (4099, 3), dtype=np.uint8)
    words = np.zeros((4099, 4), np.uint8)
    words[:, :3] = rgb
    out = torch.empty((4099, 3), dtype=torch.uint8)
    _store_words(out, torch.from_numpy(words.view(np.int32).reshape(-1)))
    return bool(np.array_equal(out.numpy(), rgb))
