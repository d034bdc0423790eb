"""Does shrinking JPEG tiles while decoding them (the default) change what the job finds?

    .venv/bin/python benchmarks/jpeg_scaling_agreement.py [--slide PATH] [--json FILE]

Runs the bundled detector and the tumour task (heatmap, tumour probability,
major axis) on the benchmark slide on the CPU twice in this one process: with
``EngineOptions(jpeg_scaling=False)`` (JPEG tiles decoded whole and box-shrunk,
the exact bytes of Pillow's box filter) and with ``jpeg_scaling=True``
(libjpeg's DCT scaling, :mod:`algorithm.slide.jpeg_scaling`). Prints, beside
issue 11's tolerances for a faster decoder (the same detections within 0.5 um
and 0.02 probability, the heatmap within 0.02): how many detections at the
model's threshold each run has, how many have no twin in the other run within
0.5 um and 0.02, the largest distance and score difference between twins, and
the largest heatmap, probability and axis differences. The job scales JPEG for
detection only (``EngineOptions.scales_jpeg``); the heatmap's figures say why.
Exit status 1 when the detections are over their tolerance.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from algorithm.classify import load_slide_model  # noqa: E402
from algorithm.detection.slide import DetectionOptions, detect_slide, detection_grid  # noqa: E402
from algorithm.engine import EngineOptions  # noqa: E402
from algorithm.models import load_detector, load_segmenter  # noqa: E402
from algorithm.segmentation import SegmentationOptions  # noqa: E402
from algorithm.slide import open_slide  # noqa: E402
from algorithm.stain.slide_fit import slide_normaliser  # noqa: E402
from algorithm.tissue import tissue_mask  # noqa: E402
from algorithm.tumour import assess_tumour  # noqa: E402
from benchmarks.common import add_cache_argument, synthetic  # noqa: E402

DISTANCE_UM, SCORE_ATOL, HEATMAP_ATOL = 0.5, 0.02, 0.02


def run(slide_path: Path, models: Path, engine: EngineOptions) -> dict[str, Any]:
    """The detections (points in um, scores) at the model's threshold, and the tumour task's outputs."""
    detector, config, checkpoint = load_detector(models / "detector.pt")
    segmenter, seg_config, seg_checkpoint = load_segmenter(models / "segmenter.pt")
    slide_model = load_slide_model(models / "slide_model.joblib")
    options = DetectionOptions(engine=engine)
    with open_slide(slide_path) as slide:
        mask = tissue_mask(slide)
        grid = detection_grid(slide, config, options, mask)
        stain = slide_normaliser(checkpoint.get("stain"), slide, mask, grid.level, pixels=grid.pixels)
        found = detect_slide(slide, detector, config, options, "cpu", stain, grid).candidates
        threshold = float(checkpoint.get("threshold", 0.5))
        keep = found.scores >= threshold
        tumour = assess_tumour(
            slide,
            mask,
            segmenter,
            seg_config,
            seg_checkpoint.get("stain"),
            slide_model,
            torch.device("cpu"),
            SegmentationOptions(engine=engine),
        )
        mpp = float(slide.mpp[0])
    assert tumour.prediction is not None
    return {
        "threshold": threshold,
        "candidates": (found.points * mpp, found.scores),
        "points_um": found.points[keep] * mpp,
        "scores": found.scores[keep],
        "heatmap": tumour.heatmap.heatmap.probability,
        "probability": tumour.prediction.tumour_probability,
        "axis_um": tumour.prediction.major_axis_um,
    }


def twins(ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[int, float, float]:
    """Of ``ours`` detections: how many have no candidate of ``theirs`` within the tolerances, and the
    largest distance (um) and score difference to the nearest candidate of ``theirs``."""
    points, scores = theirs["candidates"]
    lonely, worst_d, worst_s = 0, 0.0, 0.0
    for point, score in zip(ours["points_um"], ours["scores"], strict=True):
        distance = np.hypot(*(points - point).T)
        near = distance <= DISTANCE_UM
        if not near.any() or np.abs(scores[near] - score).min() > SCORE_ATOL:
            lonely += 1
        nearest = int(np.argmin(distance))
        worst_d = max(worst_d, float(distance[nearest]))
        worst_s = max(worst_s, float(abs(scores[nearest] - score)))
    return lonely, worst_d, worst_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slide", type=Path, help="default: the 16384^2 benchmark slide (generated into --cache)")
    parser.add_argument(
        "--models",
        type=Path,
        default=ROOT / "models",
        help="folder of detector.pt, segmenter.pt and slide_model.joblib (default models)",
    )
    add_cache_argument(parser)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    slide = args.slide or synthetic(args.cache, 16384, 505)
    exact = run(slide, args.models, EngineOptions(jpeg_scaling=False))
    scaled = run(slide, args.models, EngineOptions(jpeg_scaling=True))
    heatmap = np.abs(exact["heatmap"] - scaled["heatmap"])
    lonely_exact, d1, s1 = twins(exact, scaled)
    lonely_scaled, d2, s2 = twins(scaled, exact)
    figures = {
        "slide": slide.name,
        "detections_exact": len(exact["scores"]),
        "detections_scaled": len(scaled["scores"]),
        "without_twin": lonely_exact + lonely_scaled,
        "largest_distance_um": max(d1, d2),
        "largest_score_difference": max(s1, s2),
        "heatmap_largest_difference": float(heatmap.max()),
        "heatmap_voxels_over_tolerance": int((heatmap > HEATMAP_ATOL).sum()),
        "heatmap_voxels_above_0": int((exact["heatmap"] > 0).sum()),
        "probability_difference": abs(exact["probability"] - scaled["probability"]),
        "axis_difference_um": abs(exact["axis_um"] - scaled["axis_um"]),
    }
    print(f"{slide.name}: JPEG tiles box-shrunk (exact) vs shrunk while decoding (detection's default), CPU")
    print(
        f"  detections at threshold {exact['threshold']:.2f}: {figures['detections_exact']} exact, "
        f"{figures['detections_scaled']} scaled; without a twin within {DISTANCE_UM} um and {SCORE_ATOL}: "
        f"{figures['without_twin']}; twins at most {figures['largest_distance_um']:.3f} um and "
        f"{figures['largest_score_difference']:.4f} apart"
    )
    print(
        f"  heatmap (not scaled by default): largest difference {figures['heatmap_largest_difference']:.4f}, "
        f"{figures['heatmap_voxels_over_tolerance']} of its {figures['heatmap_voxels_above_0']} voxels above 0 over "
        f"{HEATMAP_ATOL}; tumour probability {figures['probability_difference']:.4f}, major axis "
        f"{figures['axis_difference_um']:.1f} um apart"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if figures["without_twin"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
