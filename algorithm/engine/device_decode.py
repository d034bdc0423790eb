"""Stored JPEG tiles decoded on the model's device (nvJPEG on CUDA): the reader threads only read bytes.

On a GPU host the cores are few (grand-challenge's default is 4 vCPUs) and
decoding JPEG on them is what feeds the GPU most slowly. torchvision's
``decode_jpeg`` decodes a list of JPEG streams on the GPU in one call (nvJPEG).
With ``EngineOptions(device_decode=True)``, on the device path, and where the
slide's stored tiles at the grid's level are JPEG (TIFF family), the reader
threads read each stored tile's compressed bytes once (``pread``, no decoding),
batch by batch; the consumer decodes each batch's new stored tiles on the
device, keeps them while later grid tiles need them (the plan below), and
assembles every grid tile's region there (glass past the slide's edge), before
resampling and normalising on the device as always.

The plan: which stored tiles each batch needs first (read with that batch)
and last (dropped after it). Batches follow the grid's order, so memory on the
device is the stored tiles under the rows being read.

On the CPU torchvision decodes with libjpeg-turbo: for TIFF the same bytes as
the host path (tested); for DICOM, which the host decodes through pydicom and
Pillow, a level apart in a few pixels (a mean of 1e-5 levels on the real
DICOM slide). Before it is used, one stored tile of the slide is decoded both
ways, on the host and on the device, and must agree within decoder noise
(``DEVICE_NOISE``, a mean grey level), so a JPEG variant whose colours the two
decoders read differently stays on the host path. (Aperio's RGB JPEG names no
colour space in its stream; the reader's stream carries an Adobe marker saying
RGB, which libjpeg-turbo honours; whether nvJPEG does, the probe tells.)
nvJPEG's IDCT and chroma upsampling may differ from libjpeg-turbo's by a few levels.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_jpeg

from algorithm.engine.reading import Key, RegionReader
from algorithm.errors import SlideError
from algorithm.slide.base import WHITE
from algorithm.slide.stored_tiles import StoredTiles
from algorithm.tiling.grid import Tile

_log = logging.getLogger(__name__)

Compressed = list[tuple[Key, bytes]]  # a batch's new stored tiles, as read by a worker
Box = tuple[int, int, int, int]
DEVICE_NOISE = 1.0  # mean grey levels a device's decoder may differ from the host's on the probe tile


class DeviceJpegTiles:
    """A grid's regions assembled on ``device`` from its stored JPEG tiles, decoded there.

    ``read(k)`` (any thread) gives batch k's new stored tiles' compressed bytes;
    ``regions(k, tiles, compressed)`` (the consumer, batches in order) decodes
    them and returns the batch's regions as uint8 ``(N, h, w, 3)`` on the device,
    what :meth:`RegionReader.read` gives on the host.
    """

    def __init__(
        self, reader: RegionReader, stored: StoredTiles, batches: Sequence[Sequence[Tile]], device: torch.device
    ):
        self.reader, self.stored, self.device = reader, stored, torch.device(device)
        self.level = reader.level
        first: dict[Key, int] = {}
        last: dict[Key, int] = {}
        for k, tiles in enumerate(batches):
            for tile in tiles:
                for key in reader.keys(tile):
                    first.setdefault(key, k)
                    last[key] = k
        self._new: list[list[Key]] = [[] for _ in batches]
        self._done: list[list[Key]] = [[] for _ in batches]
        for key, k in first.items():
            self._new[k].append(key)
        for key, k in last.items():
            self._done[k].append(key)
        self._cache: dict[Key, torch.Tensor | None] = {}  # None: a tile with no data (glass)
        self.decoded = 0

    @classmethod
    def open(
        cls, reader: RegionReader, batches: Sequence[Sequence[Tile]], device: torch.device
    ) -> DeviceJpegTiles | None:
        """The decoder for this grid, or None where the stored tiles are not JPEG the device decodes
        as the host does (checked on one stored tile)."""
        stored = reader.native
        if stored is None:
            return None
        probe = stored.jpeg_sample(reader.level)
        if probe is None:
            return None
        key, stream = probe
        device = torch.device(device)
        try:
            host = stored.decode(reader.level, *key)
            there = _decode([stream], device)[0].cpu().numpy()
        except (RuntimeError, SlideError) as exc:
            _log.info("%s: stored tiles decoded on the host: %s", stored.path, exc)
            return None
        # decoder noise only: a colour space read otherwise is off by tens of levels
        if there.shape != host.shape or np.abs(there.astype(np.int16) - host).mean() > DEVICE_NOISE:
            _log.info("%s: the device decodes tile %s otherwise than the host: decoded on the host", stored.path, key)
            return None
        return cls(reader, stored, batches, device)

    @property
    def cached(self) -> int:
        """Decoded stored tiles held on the device now."""
        return len(self._cache)

    def read(self, k: int) -> Compressed:
        """Batch ``k``'s new stored tiles as compressed bytes (thread-safe: positional reads)."""
        out: Compressed = []
        for key in self._new[k]:
            stream = self.stored.jpeg_stream(self.level, *key)
            assert stream is not None  # open() checked the level is JPEG
            out.append((key, stream))
        return out

    def regions(self, k: int, tiles: Sequence[Tile], compressed: Compressed) -> torch.Tensor:
        """Batch ``k``'s regions at the read level, uint8 ``(N, h, w, 3)`` on the device.

        Copied from a mosaic of the stored tiles under the batch, one copy per run of regions evenly spaced
        along a row (a strided view of the mosaic), not one per region and stored-tile piece: on CUDA each copy
        is a kernel launch from this (the consumer's) thread. For 256 regions of 256 px over 512 px stored
        tiles, 24 copies, fills and stacks instead of 339 (counted with torch's profiler on the CPU, where the
        mosaic's two extra copies of the stored tiles make it slower: this path is CUDA's by default)."""
        self._decode_new(compressed)
        boxes = [self.reader.clipped(tile) for tile in tiles]
        _, _, w, h = boxes[0][0]
        out = torch.full((len(tiles), h, w, 3), WHITE, dtype=torch.uint8, device=self.device)
        inside = [b for _, b in boxes if b[2] > b[0] and b[3] > b[1]]
        if inside:
            self._copy(out, boxes, self._mosaic(inside))
        for key in self._done[k]:
            self._cache.pop(key, None)
        return out

    def _mosaic(self, inside: Sequence[Box]) -> _Mosaic:
        """The cached stored tiles under the in-level parts ``inside`` as one image: the rows and columns of
        stored tiles they touch, side by side (glass where a tile has no data or is not held)."""
        tw, th = self.stored.tile_size(self.level)
        columns = sorted({c for x0, _, x1, _ in inside for c in range(x0 // tw, (x1 - 1) // tw + 1)})
        rows = sorted({r for _, y0, _, y1 in inside for r in range(y0 // th, (y1 - 1) // th + 1)})
        glass = torch.full((th, tw, 3), WHITE, dtype=torch.uint8, device=self.device)
        held = [self._cache.get((c, r)) for r in rows for c in columns]
        tiles = torch.stack([glass if t is None else t for t in held]).view(len(rows), len(columns), th, tw, 3)
        pixels = tiles.permute(0, 2, 1, 3, 4).reshape(len(rows) * th, len(columns) * tw, 3)
        return _Mosaic(pixels, _slots(columns), _slots(rows), tw, th)

    def _copy(self, out: torch.Tensor, boxes: Sequence[tuple[Box, Box]], mosaic: _Mosaic) -> None:
        """Each region's in-level part from ``mosaic`` into ``out``: the regions wholly inside the level in
        runs (evenly spaced along a row, as a grid's are), one strided view each; the others one by one."""
        _, h, w, _ = out.shape
        run: list[tuple[int, int, int]] = []  # (index, mosaic x, mosaic y) of consecutive regions

        def flush() -> None:
            if run:
                i, x, y = run[0]
                step = run[1][1] - x if len(run) > 1 else 0
                out[i : i + len(run)] = mosaic.windows(x, y, len(run), step, w, h)
                run.clear()

        for i, ((x, y, _, _), (x0, y0, x1, y1)) in enumerate(boxes):
            if (x0, y0, x1, y1) != (x, y, x + w, y + h):  # partly or wholly past the level's edge
                flush()
                if x1 > x0 and y1 > y0:
                    mx, my = mosaic.at(x0, y0)
                    out[i, y0 - y : y1 - y, x0 - x : x1 - x] = mosaic.pixels[my : my + y1 - y0, mx : mx + x1 - x0]
                continue
            mx, my = mosaic.at(x, y)
            step = mx - run[-1][1] if run else 0
            if run and (my != run[-1][2] or step <= 0 or (len(run) > 1 and step != run[1][1] - run[0][1])):
                flush()
            run.append((i, mx, my))
        flush()

    def _decode_new(self, compressed: Compressed) -> None:
        present = [(key, stream) for key, stream in compressed if stream]
        for key, stream in compressed:
            if not stream:
                self._cache[key] = None
        if not present:
            return
        try:
            images = _decode([stream for _, stream in present], self.device)
        except RuntimeError:
            images = [self._decode_one(key, stream) for key, stream in present]  # names the bad tile
        tw, th = self.stored.tile_size(self.level)
        for (key, _), image in zip(present, images, strict=True):
            if tuple(image.shape) != (th, tw, 3):
                raise SlideError(
                    f"{self.stored.path}: tile {key} of level {self.level} decodes to {image.shape[1]} x "
                    f"{image.shape[0]} pixels, not the stored tile size {tw} x {th} (the file is corrupt)"
                )
            self._cache[key] = image
        self.decoded += len(present)

    def _decode_one(self, key: Key, stream: bytes) -> torch.Tensor:
        try:
            return _decode([stream], self.device)[0]
        except RuntimeError as exc:
            raise SlideError(
                f"{self.stored.path}: cannot decode tile {key} of level {self.level}: {exc} (the file is corrupt)"
            ) from exc


def _slots(held: list[int]) -> dict[int, int]:
    """Each held stored tile's place along the mosaic's axis."""
    return {t: j for j, t in enumerate(held)}


@dataclass(frozen=True)
class _Mosaic:
    """Stored tiles side by side: ``pixels`` ``(rows * th, columns * tw, 3)``; ``columns``/``rows``: a stored
    tile's place in it, by its column/row in the level."""

    pixels: torch.Tensor
    columns: dict[int, int]
    rows: dict[int, int]
    tw: int
    th: int

    def at(self, x: int, y: int) -> tuple[int, int]:
        """The mosaic's pixel holding the level's pixel ``(x, y)`` (its stored tile held)."""
        return self.columns[x // self.tw] * self.tw + x % self.tw, self.rows[y // self.th] * self.th + y % self.th

    def windows(self, x: int, y: int, n: int, step: int, w: int, h: int) -> torch.Tensor:
        """``n`` windows of ``w`` x ``h`` pixels, the first at ``(x, y)``, each ``step`` pixels right of the one
        before: a strided view ``(n, h, w, 3)`` (no copy). A region's stored tiles are consecutive in the level,
        and so in the mosaic: a window is the region."""
        p = self.pixels
        row, pixel, channel = p.stride()
        return p.as_strided((n, h, w, 3), (step * pixel, row, pixel, channel), p.storage_offset() + y * row + x * pixel)


def _decode(streams: list[bytes], device: torch.device) -> list[torch.Tensor]:
    """JPEG streams -> uint8 ``(h, w, 3)`` tensors on ``device`` (one batched call)."""
    data = [torch.frombuffer(bytearray(s), dtype=torch.uint8) for s in streams]
    with warnings.catch_warnings():  # torchvision 0.29 deprecates its codecs for TorchCodec's; still there
        warnings.filterwarnings("ignore", "The image decoding and encoding", DeprecationWarning)
        images = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    return [image.permute(1, 2, 0) for image in images]
