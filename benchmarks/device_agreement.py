"""Do the tumour and nuclei tasks give the CPU's results on another device?

    .venv/bin/python benchmarks/device_agreement.py --device cuda [--slide PATH] [--roi PATH] [--json FILE]

Runs, in this one process, the tumour task (heatmap, tumour probability, major
axis) on the benchmark slide and the nuclei task on an ROI, once on the CPU and
once on ``--device``, and prints the largest differences beside the tolerances
the container's test states for a GPU (test.sh, ``compare_outputs.py --gpu``:
heatmap voxels within 0.05, for nvJPEG's decoding of the slide; the probability
and the axis within 0.02 + 2 %, at most 0.1 % of mask pixels different).
Detections are compared on whole jobs instead (``benchmarks/gpu_check.sh``:
``test/compare_outputs.py --gpu`` on ``python -m algorithm`` outputs). No files
are written, so SimpleITK (the MHA writer) is not needed. Exit status 1 when a
difference is over its tolerance.
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
from algorithm.engine import EngineOptions  # noqa: E402
from algorithm.models import load_nuclei_segmenter, load_segmenter  # noqa: E402
from algorithm.nuclei import DEFAULT_THRESHOLD, segment_nuclei  # noqa: E402
from algorithm.segmentation import SegmentationOptions  # noqa: E402
from algorithm.slide import open_slide  # noqa: E402
from algorithm.tissue import tissue_mask  # noqa: E402
from algorithm.tumour import assess_tumour  # noqa: E402
from benchmarks.common import add_cache_argument, synthetic  # noqa: E402

HEATMAP_ATOL = 0.05  # compare_outputs.GPU.probability_atol
VALUE_ATOL, VALUE_RTOL = 0.02, 0.02
MASK_FRACTION = 0.001


def tumour(slide_path: Path, models: Path, device: torch.device, options: SegmentationOptions) -> dict[str, Any]:
    segmenter, config, checkpoint = load_segmenter(models / "segmenter.pt", device)
    slide_model = load_slide_model(models / "slide_model.joblib")
    with open_slide(slide_path) as slide:
        mask = tissue_mask(slide)
        found = assess_tumour(slide, mask, segmenter, config, checkpoint.get("stain"), slide_model, device, options)
    assert found.prediction is not None
    return {
        "heatmap": found.heatmap.heatmap.probability,
        "probability": found.prediction.tumour_probability,
        "axis_um": found.prediction.major_axis_um,
    }


def nuclei(roi: Path, models: Path, device: torch.device, options: SegmentationOptions) -> np.ndarray:
    model, config, checkpoint = load_nuclei_segmenter(models / "nuclei.pt", device)
    with open_slide(roi) as slide:
        threshold = float(checkpoint.get("threshold", DEFAULT_THRESHOLD))
        found = segment_nuclei(
            slide, tissue_mask(slide), model, config, checkpoint.get("stain"), device, threshold, options
        )
    return found.mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="the device compared with the CPU (default cuda)")
    parser.add_argument("--slide", type=Path, help="default: the 16384^2 benchmark slide (generated into --cache)")
    parser.add_argument(
        "--roi",
        type=Path,
        default=ROOT / "test/nuclei/input/images/histopathology-roi-cropout/synthetic-roi-7100.tif",
        help="the nuclei task's image (default: the nuclei test case's, test/nuclei/input/...)",
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=ROOT / "models",
        help="folder of segmenter.pt, slide_model.joblib and nuclei.pt (default models)",
    )
    add_cache_argument(parser)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument(
        "--no-amp", action="store_true", help="no mixed precision on the device (to find a difference's cause)"
    )
    parser.add_argument(
        "--prep",
        choices=("device", "host"),
        default="device",
        help="resample and normalise on the device (default, as the job) or on the host (to find a difference's cause)",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    options = SegmentationOptions(engine=EngineOptions(amp=not args.no_amp, on_device=args.prep == "device"))
    slide = args.slide or synthetic(args.cache, 16384, 505)
    cpu = torch.device("cpu")

    a, b = tumour(slide, args.models, cpu, SegmentationOptions()), tumour(slide, args.models, device, options)
    diff = np.abs(a["heatmap"] - b["heatmap"])
    heatmap = float(diff.max())
    figures: dict[str, Any] = {
        "slide": slide.name,
        "device": str(device),
        "amp": not args.no_amp,
        "prep": args.prep,
        "heatmap_max_abs": heatmap,
        "heatmap_p999_abs": float(np.quantile(diff, 0.999)),
        "heatmap_mean_abs": float(diff.mean()),
        "probability": [a["probability"], b["probability"]],
        "axis_um": [a["axis_um"], b["axis_um"]],
    }
    ok = heatmap <= HEATMAP_ATOL
    for key in ("probability", "axis_um"):
        x, y = figures[key]
        ok &= abs(y - x) <= VALUE_ATOL + VALUE_RTOL * abs(x)
    print(
        f"tumour on {slide.name} (amp {not args.no_amp}, prep on the {args.prep}): heatmap voxels differ by at most "
        f"{heatmap:.4f} (tolerance {HEATMAP_ATOL}), 99.9 % of them by {figures['heatmap_p999_abs']:.4f}, "
        f"mean {figures['heatmap_mean_abs']:.5f}"
    )
    print(f"  tumour probability cpu {a['probability']:.4f}, {device} {b['probability']:.4f}")
    print(f"  major axis cpu {a['axis_um']:.1f} um, {device} {b['axis_um']:.1f} um")

    m, n = nuclei(args.roi, args.models, cpu, SegmentationOptions()), nuclei(args.roi, args.models, device, options)
    differ = float(np.mean(m != n)) if m.shape == n.shape else 1.0
    figures.update({"roi": args.roi.name, "nuclei_mask_fraction_different": differ})
    ok &= differ <= MASK_FRACTION
    print(f"nuclei on {args.roi.name}: {differ:.5%} of mask pixels differ (tolerance {MASK_FRACTION:.1%})")
    print("PASS" if ok else "FAIL")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
