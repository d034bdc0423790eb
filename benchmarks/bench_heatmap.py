"""Tumour heatmaps and slide-level features: memory, and where the time goes.

    .venv/bin/python benchmarks/bench_heatmap.py [--models models/] [--large 40000]

(The engine's efficiency, end-to-end against model-only, is benchmarks/bench_engine.py's.)

2. Memory: peak RSS of ``python -m algorithm --task help`` (a fresh process
   each) on a 4k x 4k and a large (default 40k x 40k) synthetic slide; the
   heatmap's own arrays. Aim: large / small <= 1.5.
3. Where one slide's time goes (HeLP 2019's winner spent 3.3 of 3.6 minutes per
   slide before the model): tissue mask, stain fit, tiles through the model,
   the 52 HeLP features and the slide models, on the large slide's heatmap.
Slides are generated once into --cache. Every figure is measured in this one
run; quote the ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from algorithm.classify import load_slide_model  # noqa: E402
from algorithm.engine import EngineOptions  # noqa: E402
from algorithm.features import heatmap_features  # noqa: E402
from algorithm.models import load_segmenter  # noqa: E402
from algorithm.segmentation import SegmentationOptions, segment_slide, segmentation_grid  # noqa: E402
from algorithm.slide import open_slide  # noqa: E402
from algorithm.stain.slide_fit import slide_normaliser  # noqa: E402
from algorithm.tissue import tissue_mask  # noqa: E402
from benchmarks.common import add_cache_argument, run_job, synthetic  # noqa: E402


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def breakdown(slide_path: Path, models: Path, batch_size: int) -> None:
    model, config, checkpoint = load_segmenter(models / "segmenter.pt")
    slide_model = load_slide_model(models / "slide_model.joblib")
    options = SegmentationOptions(engine=EngineOptions(batch_size=batch_size))
    with open_slide(slide_path) as slide:
        mask, t_mask = timed(tissue_mask, slide)
        grid = segmentation_grid(slide, config, options, mask)
        transform, t_stain = timed(
            slide_normaliser, checkpoint.get("stain"), slide, mask, grid.level, pixels=grid.pixels
        )
        found, t_tiles = timed(segment_slide, slide, model, config, options, "cpu", transform, mask, grid)
    features, t_features = timed(heatmap_features, found.heatmap, slide_model.features)
    prediction, t_predict = timed(slide_model.predict, features)
    total = t_mask + t_stain + t_tiles + t_features + t_predict
    heatmap = found.heatmap
    print(
        f"\n3. one slide, {slide_path.name}: {len(grid)} tiles, heatmap {heatmap.shape[1]}x{heatmap.shape[0]} px "
        f"({(heatmap.probability.nbytes + heatmap.tissue.nbytes) / 1e6:.1f} MB with its tissue mask)"
    )
    for name, seconds in (
        ("tissue mask", t_mask),
        ("stain fit", t_stain),
        ("tiles -> heatmap", t_tiles),
        (f"{len(features)} features", t_features),
        ("slide models", t_predict),
    ):
        print(f"   {name:18s} {seconds:8.2f} s  {100 * seconds / total:5.1f} %")
    print(
        f"   before the model (mask + stain): {100 * (t_mask + t_stain) / total:.1f} % of {total:.1f} s; "
        f"tumour probability {prediction.tumour_probability:.3f}, major axis {prediction.major_axis_um:.0f} um"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models",
        type=Path,
        default=ROOT / "models",
        help="the model folder, as the job's --model-dir (default models)",
    )
    parser.add_argument("--small", type=int, default=4096, help="side in pixels of the small slide (default 4096)")
    parser.add_argument(
        "--large",
        type=int,
        default=40000,
        help="side in pixels of the large slide, also the breakdown's (default 40000: generating it takes several "
        "minutes)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=8, help="tiles per batch of the breakdown's segmenter (default 8)"
    )
    add_cache_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(2)
    args.cache.mkdir(parents=True, exist_ok=True)
    print("\n2. memory (python -m algorithm --task help, one process each)")
    rows = []
    for label, path in (
        ("small", synthetic(args.cache, args.small, 502)),
        ("large", synthetic(args.cache, args.large, 503)),
    ):
        rss, seconds, summary = run_job(path, args.models, "--task", "help")
        rows.append(rss)
        print(f"   {label:5s}: peak RSS {rss:7.0f} MB, {seconds:7.1f} s  [{summary}]")
    print(f"   peak RSS large / small = {rows[1] / rows[0]:.2f} (aim <= 1.5)")
    breakdown(synthetic(args.cache, args.large, 503), args.models, args.batch_size)


if __name__ == "__main__":
    main()
