"""Whole-slide detection: pipeline efficiency, memory, and work that follows tissue.

    .venv/bin/python benchmarks/bench_detection.py [--model models/detector.pt] [--large 40000]

1. Efficiency: on one synthetic slide, the end-to-end detection (tissue mask,
   per-slide stain fit, background tile reading + normalisation, model, NMS)
   divided by the model-only forward time on the same, already-prepared tiles.
   Aim: <= 1.10 on CPU.
2. Memory: peak RSS of ``python -m algorithm`` (a fresh process each) on a
   4k x 4k and a large (default 40k x 40k) synthetic slide. Aim: <= 1.5 x, < 4 GB.
3. Work follows tissue: seconds per tissue tile on both slides, and a glass-only
   slide as big as the small one.
Slides are generated once into --cache (the 40k one takes several minutes).
Every figure is measured in this one run; quote the ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from algorithm.detection.predict import predict_batch  # noqa: E402
from algorithm.detection.slide import DetectionOptions, detect_slide, detection_grid  # noqa: E402
from algorithm.models import load_detector  # noqa: E402
from algorithm.normalise import slide_normaliser  # noqa: E402
from algorithm.slide import open_slide  # noqa: E402
from algorithm.tissue import tissue_mask  # noqa: E402
from benchmarks.common import prepared_batches, run_job, synthetic  # noqa: E402


def efficiency(slide_path: Path, model_path: Path, batch_size: int) -> None:
    model, config, checkpoint = load_detector(model_path)
    spec = checkpoint.get("stain")
    options = DetectionOptions(batch_size=batch_size, amp=False)
    with open_slide(slide_path) as slide:
        # end to end, as the job runs it (model already loaded)
        start = time.perf_counter()
        mask = tissue_mask(slide)
        grid = detection_grid(slide, config, options, mask)
        transform = slide_normaliser(spec, slide, mask, grid.level, pixels=grid.pixels)
        found = detect_slide(slide, model, config, options, "cpu", transform, grid)
        end_to_end = time.perf_counter() - start
        # model only, on the same tiles prepared beforehand
        batches = prepared_batches(slide, grid, batch_size, transform)
    start = time.perf_counter()
    for batch in batches:
        predict_batch(model, batch, torch.device("cpu"), amp=False)
    model_only = time.perf_counter() - start
    print(f"\n1. efficiency on {slide_path.name}: {len(grid)} tiles, {len(found.candidates)} candidates")
    print(f"   end-to-end {end_to_end:.2f} s, model-only {model_only:.2f} s, ratio {end_to_end / model_only:.3f} (aim <= 1.10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "detector.pt")
    parser.add_argument("--small", type=int, default=4096)
    parser.add_argument("--large", type=int, default=40000)
    parser.add_argument("--efficiency-size", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument("--skip-efficiency", action="store_true", help="only the memory and tissue part")
    args = parser.parse_args()
    torch.set_num_threads(2)
    args.cache.mkdir(parents=True, exist_ok=True)
    if not args.skip_efficiency:
        efficiency(synthetic(args.cache, args.efficiency_size, 501), args.model, args.batch_size)
    print("\n2-3. memory and work per tissue tile (python -m algorithm, one process each)")
    rows = []
    for label, path in (("small", synthetic(args.cache, args.small, 502)),
                        ("large", synthetic(args.cache, args.large, 503)),
                        ("glass", synthetic(args.cache, args.small, 504, glass=True))):
        rss, seconds, summary = run_job(path, args.model.parent, "--task", "midog")
        with open_slide(path) as slide:
            w, h = slide.dimensions
        rows.append((label, rss, seconds))
        print(f"   {label:5s} {w}x{h}: peak RSS {rss:7.0f} MB, {seconds:7.1f} s  [{summary}]")
    (_, small_rss, _), (_, large_rss, _), _ = rows
    print(f"   peak RSS large / small = {large_rss / small_rss:.2f} (aim <= 1.5, and < 4096 MB)")


if __name__ == "__main__":
    main()
