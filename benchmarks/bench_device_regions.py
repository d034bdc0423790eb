"""How many copies the device path makes to cut a batch's regions from its decoded stored tiles.

    .venv/bin/python benchmarks/bench_device_regions.py [--device cpu|cuda] [--size 4096] [--batch 76 256]

On CUDA every tensor copy, fill or stack is a kernel launch from the consumer
thread, the thread that also runs the model; the count is what the consumer
pays per batch whatever the device. Cuts a synthetic slide's detector grid
(256 px at 0.25 um/px over 512 px JPEG tiles) in batches with
:class:`~algorithm.engine.device_decode.DeviceJpegTiles` and prints per batch:
the copies before the mosaic (a fill and one per region's stored-tile piece:
the count to compare), the copies, fills and stacks torch's profiler counts now,
and the time, with the regions checked against the host's
:meth:`~algorithm.engine.reading.RegionReader.read` (the same bytes on the CPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from algorithm.engine.device_decode import DeviceJpegTiles  # noqa: E402
from algorithm.engine.reading import RegionReader  # noqa: E402
from algorithm.slide import open_slide  # noqa: E402
from algorithm.tiling import Tile, tile_grid  # noqa: E402
from benchmarks.common import add_cache_argument, synthetic  # noqa: E402

COPIES = ("aten::copy_", "aten::fill_", "aten::cat", "aten::index", "aten::masked_fill_")


def cut(decoder: DeviceJpegTiles, batches: Sequence[Sequence[Tile]]) -> tuple[list[torch.Tensor], float]:
    """Every batch's regions and the seconds spent cutting them (decoding excluded)."""
    compressed = [decoder.read(k) for k in range(len(batches))]
    out, seconds = [], 0.0
    for k, batch in enumerate(batches):
        decoder._decode_new(compressed[k])  # noqa: SLF001 (decoding apart from cutting)
        started = time.perf_counter()
        out.append(decoder.regions(k, batch, []))
        if decoder.device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - started
    return out, seconds


def counted(reader: RegionReader, batches: Sequence[Sequence[Tile]], device: torch.device) -> int:
    """The copies, fills and stacks torch's profiler counts while a fresh decoder cuts every batch."""
    decoder = DeviceJpegTiles.open(reader, batches, device)
    assert decoder is not None
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        cut(decoder, batches)
    return sum(e.count for e in prof.key_averages() if e.key in COPIES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="torch device to cut on: cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--size", type=int, default=4096, help="the synthetic slide's side in pixels (default 4096)")
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[76, 256], help="batch sizes to cut, in tiles (default 76 256)"
    )
    add_cache_argument(parser)
    args = parser.parse_args()
    device = torch.device(args.device)
    path = synthetic(args.cache, args.size, seed=505)
    with open_slide(path) as slide:
        grid = tile_grid(slide, 256, 32, mpp=0.25)
        reader = RegionReader(slide, grid, None, False)
        tiles = list(grid.tiles)
        for size in args.batch:
            batches = [tiles[i : i + size] for i in range(0, len(tiles), size)]
            decoder = DeviceJpegTiles.open(reader, batches, device)
            if decoder is None:
                print(f"{path}: the device does not decode these tiles as the host does")
                return 1
            regions, seconds = cut(decoder, batches)
            copies = counted(reader, batches, device)
            native = reader.native
            assert native is not None  # open() found JPEG stored tiles
            inside = [b for _, b in map(reader.clipped, tiles) if b[2] > b[0] and b[3] > b[1]]
            pieces = sum(len(native.pieces(grid.level, x0, y0, x1 - x0, y1 - y0)) for x0, y0, x1, y1 in inside)
            host = np.stack([reader.read(t) for t in tiles])
            got = torch.cat(regions).cpu().numpy()
            same = "the host's bytes" if np.array_equal(got, host) else f"max {np.abs(got - host.astype(int)).max()}"
            n = len(batches)
            print(
                f"batch {size}: {len(tiles)} regions in {n} batches; per batch {pieces / n + 1:.0f} copies and fills "
                f"before (a fill, a copy per stored-tile piece), {copies / n:.0f} now; "
                f"{1e3 * seconds / n:.1f} ms (without the profiler); {same}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
