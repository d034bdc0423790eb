"""Whole-slide detection: memory, and work that follows tissue.

    .venv/bin/python benchmarks/bench_detection.py [--model models/detector.pt] [--large 40000]

(The engine's efficiency, end-to-end against model-only, is benchmarks/bench_engine.py's.)

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
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from algorithm.slide import open_slide  # noqa: E402
from benchmarks.common import add_cache_argument, run_job, synthetic  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        type=Path,
        default=ROOT / "models" / "detector.pt",
        help="a detector.pt: the jobs run with its folder as --model-dir (default models/detector.pt)",
    )
    parser.add_argument(
        "--small", type=int, default=4096, help="side in pixels of the small and the glass-only slide (default 4096)"
    )
    parser.add_argument(
        "--large",
        type=int,
        default=40000,
        help="side in pixels of the large slide (default 40000: generating it takes several minutes)",
    )
    add_cache_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(2)
    args.cache.mkdir(parents=True, exist_ok=True)
    print("\n2-3. memory and work per tissue tile (python -m algorithm, one process each)")
    rows = []
    for label, path in (
        ("small", synthetic(args.cache, args.small, 502)),
        ("large", synthetic(args.cache, args.large, 503)),
        ("glass", synthetic(args.cache, args.small, 504, glass=True)),
    ):
        rss, seconds, summary = run_job(path, args.model.parent, "--task", "midog")
        with open_slide(path) as slide:
            w, h = slide.dimensions
        rows.append((label, rss, seconds))
        print(f"   {label:5s} {w}x{h}: peak RSS {rss:7.0f} MB, {seconds:7.1f} s  [{summary}]")
    (_, small_rss, _), (_, large_rss, _), _ = rows
    print(f"   peak RSS large / small = {large_rss / small_rss:.2f} (aim <= 1.5, and < 4096 MB)")


if __name__ == "__main__":
    main()
