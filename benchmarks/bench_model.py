"""The tile models alone on the device: how fast, at which batch size, and where a batch's time goes.

    .venv/bin/python benchmarks/bench_model.py --device cuda [--batches 32,64,128,256] [--profile]

On the benchmark slide's own tiles (read and normalised once beforehand, on the
device), for the detector and the segmenter: tiles/s of the network alone
(``forward``) and of the whole model step (``forward``, batched
post-processing, results to the host), at each batch size, with cuDNN's
autotuner off (as the engine runs) and on. Medians of ``--repeat``
passes over all the tiles. ``--profile`` adds torch's profiler table (the
operators that take the device's and the host's time) at batch 64. ``--json FILE`` writes every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from algorithm.device import autocast  # noqa: E402
from algorithm.engine import EngineOptions  # noqa: E402
from algorithm.slide import open_slide  # noqa: E402
from algorithm.tissue import tissue_mask  # noqa: E402
from benchmarks.bench_engine import prepared, slide_job, sync  # noqa: E402
from benchmarks.common import add_cache_argument, synthetic  # noqa: E402


def tiles_and_model(kind: str, slide_path: Path, models: Path, device: torch.device) -> tuple[torch.Tensor, Any]:
    """All of the slide's tiles for ``kind`` as one (N, 3, H, W) float tensor on the device, and its tile model."""
    with open_slide(slide_path) as slide:
        mask = tissue_mask(slide)
        job = slide_job(kind, slide, mask, models, device, EngineOptions())
        batches = prepared(slide, job.grid, job.fitted(slide, mask), EngineOptions(batch_size=64), device)
    return torch.cat(batches), job.tile_model


@contextlib.contextmanager
def cudnn_autotune(on: bool) -> Iterator[None]:
    """cuDNN's autotuner on or off inside the block (restored after)."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def timed(model: Any, tiles: torch.Tensor, batch: int, device: torch.device, whole: bool, tune: bool) -> float:
    """Seconds for one pass over ``tiles`` in batches of ``batch``: the network alone, or the whole model step."""
    chunks = [tiles[i : i + batch] for i in range(0, len(tiles), batch)]
    with torch.inference_mode(), autocast(device, True), cudnn_autotune(tune):
        for x in chunks[:2]:  # warm-up: cuDNN's choice for both shapes, anchors
            model.to_host(model.postprocess(model.forward(x)))
        sync(device)
        start = time.perf_counter()
        for x in chunks:
            raw = model.forward(x)
            if whole:
                model.to_host(model.postprocess(raw))
        sync(device)
    return time.perf_counter() - start


def profile(model: Any, tiles: torch.Tensor, batch: int, device: torch.device) -> str:
    """torch's profiler over one pass at ``batch``: the operators by device time and by host time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    chunks = [tiles[i : i + batch] for i in range(0, len(tiles), batch)]
    with torch.inference_mode(), autocast(device, True):
        model.to_host(model.postprocess(model.forward(chunks[0])))
        sync(device)
        with torch_profile(activities=activities) as prof:
            for x in chunks:
                model.to_host(model.postprocess(model.forward(x)))
            sync(device)
    events = prof.key_averages()
    by_device = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    return (
        events.table(sort_by=by_device, row_limit=25, max_name_column_width=60)
        + "\n"
        + events.table(sort_by="cpu_time_total", row_limit=15, max_name_column_width=60)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="torch device the models run on (default cuda)")
    parser.add_argument(
        "--size", type=int, default=16384, help="synthetic slide side in pixels, 0.25 um/px (default 16384)"
    )
    parser.add_argument(
        "--batches", default="32,64,128,256", help="batch sizes to time, comma-separated (default 32,64,128,256)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="passes per figure; medians reported (default 3)")
    parser.add_argument("--profile", action="store_true", help="also print torch's profiler table at batch 64")
    parser.add_argument(
        "--models", type=Path, default=ROOT / "models", help="folder of detector.pt and segmenter.pt (default models)"
    )
    add_cache_argument(parser)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    device = torch.device(args.device)
    args.cache.mkdir(parents=True, exist_ok=True)
    slide = synthetic(args.cache, args.size, 505)
    sizes = [int(b) for b in args.batches.split(",")]
    figures: list[dict[str, Any]] = []
    for kind in ("detection", "segmentation"):
        tiles, model = tiles_and_model(kind, slide, args.models, device)
        if len(tiles) < 512:  # too few for steady timings: the same tiles several times over
            tiles = tiles.repeat(-(-512 // len(tiles)), 1, 1, 1)
        print(f"\n{kind}: {len(tiles)} tiles of {tuple(tiles.shape[1:])}")
        for tune in (False, True):
            for batch in sizes:
                row: dict[str, Any] = {"kind": kind, "batch": batch, "autotune": tune}
                for whole in (False, True):
                    seconds = statistics.median(
                        timed(model, tiles, batch, device, whole, tune) for _ in range(args.repeat)
                    )
                    row["model_step" if whole else "network"] = len(tiles) / seconds
                figures.append(row)
                print(
                    f"  batch {batch:4d}, autotune {'on ' if tune else 'off'}: network {row['network']:8.0f} "
                    f"tiles/s, whole step {row['model_step']:8.0f} tiles/s"
                )
        if args.profile:
            print(profile(model, tiles, 64, device))
    if args.json:
        args.json.write_text(json.dumps({"slide": slide.name, "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
