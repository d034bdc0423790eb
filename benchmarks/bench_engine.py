"""The tile engine: does the model ever wait for the tiles?

    .venv/bin/python benchmarks/bench_engine.py --device cpu|cuda [--cpus N] [--size 16384]

For detection (RetinaNet, 256 px tiles at 0.5 um/px) and segmentation (FPN,
256 px tiles at 2 um/px) on the same synthetic slide, measured in this one run:

- producer-only: the engine with a model that does nothing (read, resample,
  stain-normalise with a freshly fitted normaliser, batch, copy to the
  device), tiles/s; and the same without the stain map (reading and
  resampling alone), so the two halves of the producer's work are seen apart
  (medians of ``--repeat`` runs of each, alternated);
- model-only: the model (forward, batched post-processing, results to the host)
  on tiles read and normalised beforehand and already on the device, tiles/s;
- end-to-end: ``detect_slide`` / ``segment_slide`` as the job runs them, given
  the grid and a freshly fitted normaliser (its colour table fills inside),
  tiles/s;
- the ratio end-to-end / model-only (aim: <= 1.05 on the CPU): the two are
  measured ``--repeat`` times, alternated, and their medians compared; on the
  CPU also paired batch by batch (:class:`Twin`: each batch's model-only time
  taken right after its end-to-end pass, so that the machine's drift between
  runs, 5-10 % on a shared 2-core VM, cancels), the median of ``--repeat``
  such runs; and the engine's own time split (last end-to-end run);
- the per-slide set-up before the engine (tissue mask, stain fit), for scale.

``--cpus N`` restricts the whole process to N cores (affinity, torch threads,
reader threads): ``--cpus 4`` stands in for grand-challenge's default 4 vCPUs.
``--json FILE`` also writes every figure. The slide is generated once into --cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from algorithm.detection.slide import DetectionOptions, detect_slide, detection_grid, detection_model  # noqa: E402
from algorithm.engine import (  # noqa: E402
    EngineOptions,
    EngineStats,
    ProbabilityModel,
    TileModel,
    TileRun,
    TileTransform,
)
from algorithm.models import load_detector, load_segmenter  # noqa: E402
from algorithm.options import add_views_argument  # noqa: E402
from algorithm.segmentation import SegmentationOptions, segment_slide, segmentation_grid  # noqa: E402
from algorithm.segmentation.heatmap import HeatmapStitcher  # noqa: E402
from algorithm.slide import open_slide  # noqa: E402
from algorithm.slide.base import SlideReader  # noqa: E402
from algorithm.stain.slide_fit import slide_normaliser  # noqa: E402
from algorithm.tiling.grid import TileGrid  # noqa: E402
from algorithm.tissue import TissueMask, tissue_mask  # noqa: E402
from benchmarks.common import add_cache_argument, synthetic  # noqa: E402


class Nothing(torch.nn.Module):
    """A network that does nothing: one number per tile."""

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        return tiles[:, :1, :1, :1] * 0


def null_model() -> ProbabilityModel:
    """A tile model that does nothing, as the kit's adapter (which the engine treats as the job's models,
    e.g. refilling their batch buffers): what is left is the producers' work."""
    return ProbabilityModel(Nothing(), activation=None)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def prepared(slide, grid, stain, engine: EngineOptions, device: torch.device) -> list[torch.Tensor]:
    """Every batch read, normalised and put on the device beforehand (what model-only runs on)."""

    class Keep:
        def forward(self, tiles: torch.Tensor) -> torch.Tensor:
            return tiles.clone()

        def postprocess(self, raw: torch.Tensor) -> torch.Tensor:
            return raw

        def to_host(self, output: torch.Tensor) -> Any:
            return output

    return [result.output for result in TileRun(slide, grid, Keep(), device, stain, engine, desc="")]


def model_only(model, batches: list[torch.Tensor], device: torch.device, amp: bool) -> float:
    from algorithm.device import autocast

    with torch.inference_mode(), autocast(device, amp):
        model.to_host(model.postprocess(model.forward(batches[0])))  # warm-up (cuDNN, anchors)
        sync(device)
        start = time.perf_counter()
        for x in batches:
            model.to_host(model.postprocess(model.forward(x)))
        sync(device)
    return time.perf_counter() - start


class Twin:
    """The job's tile model, each batch run a second time right after, on the same tiles, timed.

    Pairs end-to-end with model-only batch by batch (0.4 s apart on the CPU), so that the
    machine's drift, which here moves whole runs by 5-10 %, hits both alike. The twin finds its
    input in the cache (which flatters model-only, so the ratio errs high). CPU only: on CUDA
    it would stall the engine's overlap.
    """

    def __init__(self, inner: TileModel) -> None:
        self.inner = inner
        self.seconds = 0.0  # the twins: forward, post-processing and results to the host
        self.forward_seconds = 0.0  # the network alone, inside the engine
        self.twin_forward_seconds = 0.0  # the network alone, in the twins
        self._tiles: torch.Tensor | None = None

    def forward(self, tiles: torch.Tensor) -> Any:
        self._tiles = tiles
        start = time.perf_counter()
        raw = self.inner.forward(tiles)
        self.forward_seconds += time.perf_counter() - start
        return raw

    def postprocess(self, raw: Any) -> Any:
        return self.inner.postprocess(raw)

    def to_host(self, output: Any) -> Any:
        host = self.inner.to_host(output)
        assert self._tiles is not None
        start = time.perf_counter()
        raw = self.inner.forward(self._tiles)
        self.twin_forward_seconds += time.perf_counter() - start
        self.inner.to_host(self.inner.postprocess(raw))
        self.seconds += time.perf_counter() - start
        return host


@dataclass
class SlideJob:
    """One kind's work on a slide as the job sets it up: its grid, its tile model and checkpoint, and the
    job's own call (``run(stain, model)``: ``detect_slide`` / ``segment_slide``, with the job's model or
    ``model`` in its place, returning the engine's statistics)."""

    grid: TileGrid
    tile_model: TileModel
    checkpoint: dict[str, Any]
    run: Callable[[TileTransform | None, TileModel | None], EngineStats]  # (stain, tile model or the job's)

    def fitted(self, slide: SlideReader, mask: TissueMask) -> TileTransform | None:
        """A freshly fitted stain normaliser: the Normaliser itself, not a wrapper (the engine takes its
        fixed-map fast path for it)."""
        return slide_normaliser(self.checkpoint.get("stain"), slide, mask, self.grid.level, pixels=self.grid.pixels)


def slide_job(
    kind: str,
    slide: SlideReader,
    mask: TissueMask,
    models: Path,
    device: torch.device,
    engine: EngineOptions,
    views: int | None = None,
) -> SlideJob:
    """Detection or segmentation on ``slide`` with the bundled model in ``models``, set up as the job does
    (``views``: the detector's test-time views instead of its checkpoint's)."""
    if kind == "detection":
        detector, det_config, checkpoint = load_detector(models / "detector.pt", device)
        det_config = det_config.with_views(views)
        det_options = DetectionOptions(engine=engine)
        grid = detection_grid(slide, det_config, det_options, mask)
        det_model = detection_model(detector, det_config, det_options.candidate_threshold)
        # a wrapped model reads its tiles as the job's model has them read
        wrapped = replace(det_options, engine=replace(engine, jpeg_scaling=engine.scales_jpeg(det_model)))

        def detect(stain: TileTransform | None, model: TileModel | None = None) -> EngineStats:
            if model is None:
                return detect_slide(slide, detector, det_config, det_options, device, stain, grid).engine
            return detect_slide(slide, model, det_config, wrapped, device, stain, grid).engine

        return SlideJob(grid, det_model, checkpoint, detect)
    segmenter, seg_config, checkpoint = load_segmenter(models / "segmenter.pt", device)
    seg_options = SegmentationOptions(engine=engine)
    grid = segmentation_grid(slide, seg_config, seg_options, mask)
    stitcher = HeatmapStitcher(slide.dimensions, grid.scale * seg_options.heatmap_factor)
    seg_model = ProbabilityModel(segmenter, size=stitcher.tile_size(grid.tiles[0]), views=seg_options.views)

    def segment(stain: TileTransform | None, model: TileModel | None = None) -> EngineStats:
        chosen = segmenter if model is None else model
        return segment_slide(slide, chosen, seg_config, seg_options, device, stain, mask, grid).engine

    return SlideJob(grid, seg_model, checkpoint, segment)


def measure(
    kind: str,
    slide_path: Path,
    models: Path,
    device: torch.device,
    engine: EngineOptions,
    repeat: int = 1,
    views: int | None = None,
) -> dict:
    with open_slide(slide_path) as slide:
        start = time.perf_counter()
        mask = tissue_mask(slide)
        t_mask = time.perf_counter() - start
        job = slide_job(kind, slide, mask, models, device, engine, views)
        grid, tile_model, run_slide = job.grid, job.tile_model, job.run
        # the producer-only runs' model does nothing: read the tiles as the job's model has them read
        engine = replace(engine, jpeg_scaling=engine.scales_jpeg(tile_model))

        def end_to_end() -> tuple[float, EngineStats]:
            """One job-like run with a freshly fitted normaliser (its colour table fills inside)."""
            stain = job.fitted(slide, mask)
            sync(device)
            start = time.perf_counter()
            stats = run_slide(stain, None)
            sync(device)
            return time.perf_counter() - start, stats

        start = time.perf_counter()
        stain = job.fitted(slide, mask)
        t_fit = time.perf_counter() - start

        def producer_only(transform: TileTransform | None) -> float:
            """The engine with a model that does nothing, with a fresh normaliser's map or none."""
            start = time.perf_counter()
            for _ in TileRun(slide, grid, null_model(), device, transform, engine, desc=""):
                pass
            sync(device)
            return time.perf_counter() - start

        # producer only, with and without the stain map (reading and resampling alone), alternated
        producer_runs, reading_runs = [], []
        for _ in range(repeat):
            producer_runs.append(producer_only(job.fitted(slide, mask)))
            reading_runs.append(producer_only(None))
        producer, reading = statistics.median(producer_runs), statistics.median(reading_runs)
        batches = prepared(slide, grid, stain, engine, device)
        # end-to-end and model-only alternated, so that drifts of the machine hit both alike
        e2e_runs, model_runs = [], []
        for _ in range(repeat):
            seconds, stats = end_to_end()
            e2e_runs.append(seconds)
            model_runs.append(model_only(tile_model, batches, device, engine.amp and device.type == "cuda"))
        # paired, on the CPU: each batch's model-only time measured right after its end-to-end pass
        paired_runs, networks = [], (0.0, 0.0)
        for _ in range(repeat if device.type == "cpu" else 0):
            twin = Twin(tile_model)
            stain = job.fitted(slide, mask)
            start = time.perf_counter()
            run_slide(stain, twin)
            paired_runs.append(((time.perf_counter() - start - twin.seconds), twin.seconds))
            networks = (twin.forward_seconds, twin.twin_forward_seconds)
    end_to_end_s, model_seconds = statistics.median(e2e_runs), statistics.median(model_runs)
    paired = [e / m for e, m in paired_runs]
    n = len(grid)
    return {
        "kind": kind,
        "views": getattr(tile_model, "views", 1),
        "tiles": n,
        "batch_size": stats.batch_size,
        "workers": stats.workers,
        "end_to_end_s": end_to_end_s,
        "model_only_s": model_seconds,
        "producer_only_s": producer,
        "end_to_end_tiles_per_s": n / end_to_end_s,
        "model_only_tiles_per_s": n / model_seconds,
        "producer_only_tiles_per_s": n / producer,
        "reading_only_s": reading,
        "reading_only_tiles_per_s": n / reading,
        "ratio": end_to_end_s / model_seconds,
        "ratio_without_setup": (end_to_end_s - stats.setup) / model_seconds,
        "ratios_per_repeat": [e / m for e, m in zip(e2e_runs, model_runs, strict=True)],
        "paired_ratio": statistics.median(paired) if paired else None,
        "paired_ratios": paired,
        "paired_runs_s": paired_runs,
        "paired_network_s": {"in_engine": networks[0], "twin": networks[1]},
        "split": stats.split(),
        "decoded_stored_tiles": stats.decoded,
        "slide_setup": {"tissue_mask_s": t_mask, "stain_fit_s": t_fit},
    }


def restrict(cpus: int | None) -> int:
    """Limit this process to ``cpus`` cores (affinity, torch threads); the engine's readers follow."""
    if cpus:
        allowed = sorted(os.sched_getaffinity(0))
        if cpus > len(allowed):
            raise SystemExit(f"--cpus {cpus}: only {len(allowed)} cores available")
        os.sched_setaffinity(0, allowed[:cpus])
    n = len(os.sched_getaffinity(0))
    torch.set_num_threads(n)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--device", default="cpu", help="torch device the models run on: cpu, cuda or cuda:N (default cpu)"
    )
    parser.add_argument("--cpus", type=int, help="restrict the process to this many cores")
    parser.add_argument(
        "--size", type=int, default=16384, help="synthetic slide side in pixels, 0.25 um/px (default 16384)"
    )
    parser.add_argument("--batch-size", type=int, help="default: the engine's choice for the device")
    parser.add_argument("--workers", type=int, help="reader threads (default: the usable cores)")
    parser.add_argument(
        "--device-decode",
        action=argparse.BooleanOptionalAction,
        help="decode the stored JPEG tiles on the device (nvJPEG; default: on CUDA)",
    )
    parser.add_argument(
        "--jpeg-scaling",
        action=argparse.BooleanOptionalAction,
        help="shrink stored JPEG tiles while decoding them on the host (default: as the job, for detection only)",
    )
    parser.add_argument("--only", choices=("detection", "segmentation"), help="measure one model only (default: both)")
    add_views_argument(parser, "instead of the checkpoint's (the bundled detector's: 4)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="end-to-end and model-only runs, alternated, and paired runs on the CPU; medians reported (default "
        "5: whole runs on a shared 2-core VM drift by 5-10 %%, more than the engine's whole overhead)",
    )
    parser.add_argument(
        "--models", type=Path, default=ROOT / "models", help="folder of detector.pt and segmenter.pt (default models)"
    )
    add_cache_argument(parser)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    cores = restrict(args.cpus)
    device = torch.device(args.device)
    args.cache.mkdir(parents=True, exist_ok=True)
    slide = synthetic(args.cache, args.size, 505)
    engine = EngineOptions(
        batch_size=args.batch_size,
        workers=args.workers,
        device_decode=args.device_decode,
        jpeg_scaling=args.jpeg_scaling,
    )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    decode = ", stored tiles decoded on the device" if engine.decode_on(device) else ""
    scaling = {None: "", True: ", JPEG tiles shrunk while decoding", False: ", JPEG tiles box-shrunk"}[
        args.jpeg_scaling
    ]
    print(f"{slide.name}: device {name}, {cores} cores, torch {torch.__version__}{decode}{scaling}")
    results = []
    for kind in ("detection", "segmentation"):
        if args.only and kind != args.only:
            continue
        r = measure(kind, slide, args.models, device, engine, args.repeat, args.views)
        results.append(r)
        split = ", ".join(f"{k} {v:.2f}" for k, v in r["split"].items())
        print(
            f"\n{kind}: {r['tiles']} tiles, {r['views']} view(s) each, batch {r['batch_size']}, "
            f"{r['workers']} readers, "
            f"{r['decoded_stored_tiles']} stored tiles decoded"
        )
        print(
            f"  producer-only {r['producer_only_tiles_per_s']:8.0f} tiles/s  ({r['producer_only_s']:.2f} s); "
            f"without the stain map {r['reading_only_tiles_per_s']:.0f} tiles/s ({r['reading_only_s']:.2f} s)"
        )
        print(f"  model-only    {r['model_only_tiles_per_s']:8.0f} tiles/s  ({r['model_only_s']:.2f} s)")
        print(f"  end-to-end    {r['end_to_end_tiles_per_s']:8.0f} tiles/s  ({r['end_to_end_s']:.2f} s)")
        per_repeat = ", ".join(f"{x:.3f}" for x in r["ratios_per_repeat"])
        print(
            f"  end-to-end / model-only = {r['ratio']:.3f} (medians; aim <= 1.05 on the CPU); "
            f"without the engine's set-up {r['ratio_without_setup']:.3f}; each repeat {per_repeat}"
        )
        if r["paired_ratio"] is not None:
            each = ", ".join(f"{x:.3f}" for x in r["paired_ratios"])
            net = r["paired_network_s"]
            print(
                f"  paired, batch by batch: end-to-end / model-only = {r['paired_ratio']:.3f} (median; "
                f"each run {each}); the network alone in the last: {net['in_engine']:.2f} s inside the "
                f"engine, {net['twin']:.2f} s in its twins"
            )
        print(f"  engine split (s): {split}")
        print(
            f"  per-slide set-up before the engine: tissue mask {r['slide_setup']['tissue_mask_s']:.2f} s, "
            f"stain fit {r['slide_setup']['stain_fit_s']:.2f} s"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"slide": slide.name, "device": name, "cores": cores, "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()
