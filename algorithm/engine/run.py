"""The tile engine: a grid's tiles through a model, the device never waiting for the disk.

    workers (threads, one per usable CPU)          consumer (this thread)
    read (stored tiles decoded once) -> resample   -> batch -> device -> [resample, stain] ->
    -> [stain normalisation: memoised colour table]   model -> post-processing -> host

Workers fill each batch's slots in place (pinned memory on CUDA, so the copy
to the device does not block). Batches come out in grid order whatever the
timing, and memory is bounded by the batches in flight whatever the slide.

- CUDA: the workers read up to ``prefetch`` batches ahead; the consumer
  launches batch k+1 before it collects batch k, so reading, copying, computing
  and collecting overlap; resampling and stain normalisation run on the device
  (the direct map: no CPU table); stored JPEG tiles are decoded there too
  (``device_decode``), and a short last batch is padded to the batch size, so
  that every batch has the one shape the job warmed up (``warmup.py``).
- CPU: the model already uses every core, and readers working beside it slow
  its threads more than they save, so the workers fill a burst of batches
  between model calls (each a run of neighbouring tiles, which share stored
  tiles), applying the stain map through a table memoised per colour, and
  write each tile as the model's float input (no conversion between calls),
  into the float slots of batches already collected (no fresh pages to fault).

Any model that follows :class:`~algorithm.engine.models.TileModel` runs here:
the kit's detector and segmenter, or a participant's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from algorithm.console import progress
from algorithm.device import as_float, autocast, available_cpus
from algorithm.engine.device_decode import Compressed, DeviceJpegTiles
from algorithm.engine.models import (
    ClassifierModel,
    DetectionModel,
    ProbabilityModel,
    TileModel,
    engine_device,
    not_a_tile_model,
)
from algorithm.engine.pool import ordered_map
from algorithm.engine.reading import RegionReader
from algorithm.engine.retinanet import TileDetections
from algorithm.engine.stats import EngineStats
from algorithm.errors import ConfigError
from algorithm.slide.base import SlideReader
from algorithm.slide.resample import reduce_box_tensor, region_size
from algorithm.stain.base import Normaliser
from algorithm.stain.pixel_map import serial
from algorithm.tiling.grid import Tile, TileGrid

TileTransform = Callable[[NDArray[np.uint8]], NDArray[np.uint8]]
DEFAULT_BATCH = {"cpu": 8, "cuda": 256}


@dataclass(frozen=True)
class EngineOptions:
    """How a run uses the machine; the defaults suit both the CPU and CUDA."""

    batch_size: int | None = None  # None: 8 on the CPU, 256 on CUDA
    workers: int | None = None  # reader threads; None: the CPUs this process may use
    prefetch: int = 2  # batches read ahead
    amp: bool = True  # mixed precision, on CUDA only
    on_device: bool | None = None  # resample and normalise on the model's device; None: on CUDA only
    cpu_burst: int = 8  # CPU: batches the readers fill between model calls (8 read ~5 % faster than 4 here)
    device_decode: bool | None = None  # decode stored JPEG tiles on the device (nvJPEG); None: on CUDA
    pad: bool | None = None  # a short last batch padded to the batch size (one shape: see warmup.py); None: on CUDA
    # host: stored JPEG tiles shrunk by 2, 4 or 8 while they decode (DCT scaling, within decoder noise of the
    # box shrink, twice as fast; see algorithm.slide.jpeg_scaling); False: the box shrink's bytes exactly;
    # None: for detection models only (see scales_jpeg)
    jpeg_scaling: bool | None = None

    def batch_for(self, device: torch.device) -> int:
        """The batch size on ``device``: the option when given, else the device's default."""
        return self.batch_size or DEFAULT_BATCH.get(device.type, 8)

    def scales_jpeg(self, model: object) -> bool:
        """Whether the host shrinks JPEG tiles while decoding them for ``model``: the option when given,
        else for detection models only. On the 16384^2 benchmark slide the detector's detections stayed
        within 0.03 um and 0.009 (issue 11's tolerance: 0.5 um, 0.02), but 1,562 of the tumour heatmap's
        voxels moved by over 0.02 (up to 0.08; benchmarks/jpeg_scaling_agreement.py): probability maps
        keep the box shrink's bytes."""
        return self.jpeg_scaling if self.jpeg_scaling is not None else isinstance(model, DetectionModel)

    def decode_on(self, device: torch.device) -> bool:
        """Whether stored JPEG tiles are decoded on ``device``: the option when given, else on CUDA."""
        return self.device_decode if self.device_decode is not None else device.type == "cuda"


@dataclass
class BatchResult:
    """One batch's tiles and the model's host output for them (in the batch's order)."""

    tiles: tuple[Tile, ...]
    output: Any


@dataclass
class _Batch:
    index: int
    tiles: tuple[Tile, ...]
    pixels: Any  # numpy (N, h, w, 3) uint8, or a pinned torch tensor on CUDA; None when decoding on the device
    host: NDArray[Any] | None  # ``pixels`` as numpy (the same memory): what the workers fill (uint8 or float)
    output: Any = None
    copied: Any = None  # CUDA: an event recorded after the copy to the device
    compressed: Compressed | None = None  # decoding on the device: the new stored tiles' bytes


class TileRun:
    """Iterate over it for :class:`BatchResult` s in grid order; ``stats`` says where the time went.

    ``model``: a :class:`~algorithm.engine.models.TileModel` -- the kit's adapters
    (``ProbabilityModel``, ``DetectionModel``, ``ClassifierModel``) round a torch module, or an
    object of your own with ``forward``, ``postprocess`` and ``to_host``; anything else (a bare
    torch module) is a :class:`~algorithm.errors.ConfigError` saying how to wrap it.
    ``device``: "cpu", "cuda", "cuda:N", "auto" or a ``torch.device``; one that cannot be used
    here is a ConfigError. An adapter's module is moved to ``device`` here where any of its
    parameters or buffers is elsewhere (a CPU module runs on "cuda" as it is); a tile model of
    your own is run as it is, so it must be on ``device`` itself.
    """

    def __init__(
        self,
        slide: SlideReader,
        grid: TileGrid,
        model: TileModel,
        device: torch.device | str = "cpu",
        stain: TileTransform | None = None,
        options: EngineOptions = EngineOptions(),
        desc: str | None = None,
    ) -> None:
        problem = not_a_tile_model(model)
        if problem is not None:
            raise ConfigError(problem)
        self.slide, self.grid, self.model = slide, grid, model
        self.device = engine_device(device)
        if isinstance(model, (DetectionModel, ProbabilityModel, ClassifierModel)):
            model.to(self.device)  # nothing to do for a module already there (the kit's: loaded onto it)
        self.options = options
        self.batch_size = options.batch_for(self.device)
        self.on_device = options.on_device if options.on_device is not None else self.device.type == "cuda"
        self.stain = stain
        # the kit's adapters' outputs can be cut back to the real tiles; a model's own cannot
        padded = options.pad if options.pad is not None else self.device.type == "cuda"
        self.pad = padded and isinstance(model, (DetectionModel, ProbabilityModel, ClassifierModel))
        # A fitted normaliser's map depends on each pixel alone: on the host the reader applies it to
        # each stored tile once (see RegionReader); on the device the consumer applies it per batch.
        self._normaliser = stain if isinstance(stain, Normaliser) and stain.has_source else None
        host_map = self._normalise if self._normaliser is not None and not self.on_device else None
        self.reader = RegionReader(slide, grid, host_map, not self.on_device, options.scales_jpeg(model))
        self._host_transform = stain is not None and self._normaliser is None  # tile by tile, on the host
        opening = time.perf_counter()  # the device decoder's plan and probe: part of the set-up
        self.jpeg = (
            DeviceJpegTiles.open(self.reader, self._batches(), self.device)
            if options.decode_on(self.device) and self.on_device and not self._host_transform
            else None
        )
        opening = time.perf_counter() - opening
        workers = options.workers or available_cpus()
        self.workers = workers if self.reader.concurrent else 1
        # CPU: each reader fills a run of consecutive tiles of the batch (neighbours share stored
        # tiles, so readers taking alternate tiles would wait on each other's decodes); CUDA: tile
        # by tile, the readers running ahead of the device; decoding on the device: a batch's bytes.
        if self.jpeg is not None:
            self.chunk = self.batch_size
        elif self.device.type == "cpu":
            self.chunk = -(-self.batch_size // self.workers)
        else:
            self.chunk = 1
        self.desc = desc if desc is not None else slide.path.name
        self.stats = EngineStats(device=str(self.device), workers=self.workers, batch_size=self.batch_size)
        self.stats.setup = opening
        self._pinned: list[torch.Tensor] = []
        # CPU, host reading: the workers fill float slots, so the consumer has nothing to convert
        self._float_slots = self.device.type == "cpu" and not self.on_device and self.jpeg is None
        # CPU: a collected batch's float slots are filled again by a later batch of its shape, unless the
        # model's host output may view them (the kit's adapters' outputs are checked; a model's own are not
        # trusted): a fresh 6 MB batch costs its page faults, 1-10 ms, as much as reading its tiles
        self._spare: list[NDArray[Any]] = []
        self._recycle = self._float_slots and isinstance(model, (DetectionModel, ProbabilityModel, ClassifierModel))
        self.allocated = 0  # batch buffers allocated on the host (pinned or float slots; recycled ones not counted)

    # ----- producers (worker threads) -------------------------------------------------
    def _tile_shape(self) -> tuple[int, int]:
        """(h, w) of what the workers deliver: the grid's tiles, or raw regions when resampling on the device."""
        if not self.grid.tiles:
            return (0, 0)
        tile = self.grid.tiles[0]
        w, h = region_size(tile.extent, self.reader.downsample) if self.on_device else tile.size
        return h, w

    def _batches(self) -> list[tuple[Tile, ...]]:
        tiles = self.grid.tiles
        return [tuple(tiles[start : start + self.batch_size]) for start in range(0, len(tiles), self.batch_size)]

    def _new_batch(self, index: int, tiles: tuple[Tile, ...]) -> _Batch:
        if self.jpeg is not None:
            return _Batch(index, tiles, None, None)
        h, w = self._tile_shape()
        shape = (len(tiles), h, w, 3)
        if self.device.type == "cuda":
            buffer = _take_shaped(self._pinned, shape)
            if buffer is None:
                buffer = torch.empty(shape, dtype=torch.uint8, pin_memory=True)
                self.allocated += 1
            return _Batch(index, tiles, buffer, buffer.numpy())
        # the CPU's model input itself: the workers write each tile as float (see _store), in parallel,
        # instead of the consumer converting the whole batch between model calls
        array = _take_shaped(self._spare, shape)
        if array is None:
            array = np.empty(shape, dtype=np.float32 if self._float_slots else np.uint8)
            self.allocated += 1
        return _Batch(index, tiles, array, array)

    def _work(self, job: tuple[_Batch, range]) -> tuple[_Batch, range]:
        # Only numpy here, no torch: a torch op in a worker thread may start a team of intra-op
        # threads per worker, which oversubscribes the cores (an H100 host fed 6x slower on 4 cores).
        batch, slots = job
        if self.jpeg is not None:
            with self.stats.timing("read"):
                batch.compressed = self.jpeg.read(batch.index)
            return job
        assert batch.host is not None
        host_transform = self._host_transform
        if not self.on_device:
            with self.stats.timing("read"):  # the run's new stored tiles, mapped in one call
                self.reader.prefetch([batch.tiles[slot] for slot in slots])
        for slot in slots:
            tile, target = batch.tiles[slot], batch.host[slot]
            with self.stats.timing("read"):  # the reader's stain map is timed apart, as "normalise"
                if self.on_device and not host_transform:
                    self.reader.read(tile, out=target)  # straight into the (pinned) batch
                    continue
                pixels = self.reader.read(tile) if self.on_device else self.reader.read_tile(tile)
            _store(target, self._normalise(pixels) if host_transform else pixels)
        return job

    def _normalise(self, pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
        assert self.stain is not None
        with self.stats.timing("normalise"), serial():
            return self.stain(pixels)

    def _jobs(self) -> Iterator[tuple[_Batch, range]]:
        """Each batch as runs of consecutive slots, one job each (see :attr:`chunk`)."""
        for index, tiles in enumerate(self._batches()):
            batch = self._new_batch(index, tiles)
            for first in range(0, len(batch.tiles), self.chunk):
                yield batch, range(first, min(first + self.chunk, len(batch.tiles)))

    # ----- consumer ---------------------------------------------------------------------
    def _setup(self) -> None:
        """Build what the stain map needs before the first tile, so no worker waits on it."""
        normaliser = self._normaliser
        if normaliser is None:
            return
        start = time.perf_counter()
        if self.on_device:
            normaliser.fixed_map(self.device)
        elif normaliser.use_lut:
            normaliser.lookup_table("cpu")  # asked for the full table: built once, here
        elif normaliser.use_lut is None:
            normaliser.memo_table()
        self.stats.setup += time.perf_counter() - start

    def _prepare(self, batch: _Batch) -> torch.Tensor:
        """uint8 NHWC on the host -> float NCHW in [0, 1] on the device, resampled and normalised there if asked."""
        if batch.compressed is not None:
            assert self.jpeg is not None
            with self.stats.timing("decode"):
                x = self.jpeg.regions(batch.index, batch.tiles, batch.compressed)
            return self._on_device(x, batch)
        pixels = batch.pixels if isinstance(batch.pixels, torch.Tensor) else torch.from_numpy(batch.pixels)
        if pixels.is_floating_point():  # the workers' float slots: already the model's input
            return pixels.permute(0, 3, 1, 2)
        x = pixels.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            batch.copied = torch.cuda.Event()
            batch.copied.record()
        return self._on_device(x, batch)

    def _on_device(self, x: torch.Tensor, batch: _Batch) -> torch.Tensor:
        """Resampled and normalised on the device when asked, then float in [0, 1]."""
        if self.on_device:
            tile = batch.tiles[0]
            x = resample_on_device(x, tile.extent, self.reader.downsample, tile.size)
            if self._normaliser is not None:
                normaliser = self._normaliser
                with serial():  # in this thread (inference mode), not the CPU stain pool
                    x = normaliser.fixed_map(self.device)(x.reshape(-1, 3)).reshape(x.shape)
        return as_float(x)

    def _launch(self, batch: _Batch) -> None:
        with torch.inference_mode():
            x = self._prepare(batch)
            n = x.shape[0]
            if self.pad and n < self.batch_size:  # the shape the device has run (and warmed up) before
                x = torch.cat([x, x.new_zeros((self.batch_size - n, *x.shape[1:]))])
            with self.stats.timing("model"), autocast(self.device, self.options.amp):
                raw = self.model.forward(x)
            with self.stats.timing("post"):
                output = self.model.postprocess(raw)
                batch.output = first_tiles(output, n) if x.shape[0] > n else output

    def _collect(self, batch: _Batch) -> BatchResult:
        with self.stats.timing("post"), torch.inference_mode():
            output = self.model.to_host(batch.output)
        if batch.copied is not None:
            batch.copied.synchronize()  # the copy is done: the pinned buffer may be refilled
            self._pinned.append(batch.pixels)
        elif self._recycle and batch.host is not None and not _may_view(output, batch.host):
            self._spare.append(batch.host)
        self.stats.tiles += len(batch.tiles)
        return BatchResult(batch.tiles, output)

    def _completed(self, filled: Iterator[tuple[_Batch, range]]) -> Iterator[_Batch]:
        """Batches as their last slot is filled (slots complete in order), a burst at a time, timing the waits.

        On the CPU the workers fill a burst only while this waits, so torch runs single-threaded
        meanwhile: the workers' small torch ops (stain maps) then never wake torch's intra-op
        threads (MKL's, which ignore the grain size) for cores the workers themselves occupy.
        """
        burst = self._burst()
        while True:
            wait = time.perf_counter()
            ready: list[_Batch] = []
            with torch_threads(1 if self.device.type == "cpu" else None):
                for batch, slots in filled:
                    if slots[-1] == len(batch.tiles) - 1:
                        ready.append(batch)
                        if len(ready) == burst:
                            break
            self.stats.waited += time.perf_counter() - wait
            yield from ready
            if len(ready) < burst:
                return

    def _burst(self) -> int:
        """Batches the readers fill per wait: on the CPU several (switching torch's threads down for
        the readers and back up for the model costs milliseconds, paid once per burst), elsewhere one
        (the readers run ahead of the device)."""
        return max(1, self.options.cpu_burst) if self.device.type == "cpu" else 1

    def __iter__(self) -> Iterator[BatchResult]:
        start = time.perf_counter()
        # CUDA: read ahead while the device computes. CPU: the model already uses every core, so the
        # readers fill each batch in a burst between model calls instead of fighting it for the cores.
        ahead = self.device.type != "cpu"
        window = -(-self.batch_size // self.chunk) * (max(1, self.options.prefetch + 1) if ahead else self._burst())
        filled = ordered_map(self._work, self._jobs(), self.workers, window, ahead)
        pending: _Batch | None = None
        total = -(-len(self.grid) // self.batch_size)
        try:
            self._setup()
            for batch in progress(self._completed(filled), total=total, desc=self.desc, unit="batch"):
                self._launch(batch)
                if pending is not None:  # CUDA: collect the previous batch while this one computes
                    yield self._collect(pending)
                    pending = None
                if self.device.type == "cuda":
                    pending = batch
                else:
                    yield self._collect(batch)
            if pending is not None:
                yield self._collect(pending)
        finally:
            filled.close()
            self.stats.seconds = time.perf_counter() - start
            self.stats.decoded = self.reader.decoded if self.jpeg is None else self.jpeg.decoded


def _store(target: NDArray[Any], pixels: NDArray[np.uint8]) -> None:
    """A tile into its batch slot: as is, or as float in [0, 1] for a float slot (the bytes of
    :func:`~algorithm.device.as_float`: float32 division by 255)."""
    if target.dtype == np.uint8:
        target[...] = pixels
    else:
        np.divide(pixels, np.float32(255.0), out=target, dtype=np.float32)


def _take_shaped(buffers: list[Any], shape: tuple[int, ...]) -> Any:
    """A buffer of ``shape`` taken out of ``buffers``, or None."""
    for i, buffer in enumerate(buffers):
        if tuple(buffer.shape) == shape:
            return buffers.pop(i)
    return None


def _may_view(output: Any, buffer: NDArray[Any]) -> bool:
    """Whether a host output (an array, or a dataclass of arrays such as ``HostDetections``) may share
    memory with ``buffer``: then the buffer must not be filled again."""
    values = [getattr(output, f.name) for f in fields(output)] if is_dataclass(output) else [output]
    return any(isinstance(v, np.ndarray) and np.may_share_memory(v, buffer) for v in values)


def first_tiles(output: Any, n: int) -> Any:
    """The results of a padded batch's first ``n`` tiles: detections, or a per-tile tensor."""
    if isinstance(output, TileDetections):
        keep = output.tile < n
        return TileDetections(output.boxes[keep], output.scores[keep], output.labels[keep], output.tile[keep])
    if isinstance(output, torch.Tensor):
        return output[:n]
    raise TypeError(f"cannot cut a padded batch's {type(output).__name__} back to its tiles")


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` inside the block (None: unchanged), restored after."""
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def resample_on_device(
    x: torch.Tensor, extent: tuple[int, int], downsample: float, size: tuple[int, int]
) -> torch.Tensor:
    """uint8 NHWC regions covering ``extent`` level-0 pixels at ``downsample`` -> uint8 NHWC of ``size``.

    The device's counterpart of :func:`algorithm.slide.resample.resample`: shrinking
    by a power of two, the same bytes as the host (:func:`~algorithm.slide.resample.reduce_box_tensor`); other shrinking
    by area averaging, enlarging bilinear; rounded back to uint8 before stain
    normalisation.
    """
    w, h = size
    if x.shape[1] == h and x.shape[2] == w:
        return x
    ew, eh = max(1, round(extent[0] / downsample)), max(1, round(extent[1] / downsample))
    k = ew // w
    if k > 1 and not k & (k - 1) and (ew, eh) == (w * k, h * k) and h <= w:
        return reduce_box_tensor(x[:, :eh, :ew], k)
    chw = x[:, :eh, :ew].permute(0, 3, 1, 2).float()
    mode = "area" if ew > w else "bilinear"
    out = F.interpolate(chw, size=(h, w), mode=mode, **({} if mode == "area" else {"align_corners": False}))
    return out.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
