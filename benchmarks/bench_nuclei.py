"""Nuclei segmentation of a 1000 x 1000 image (MoNuSeg, 40x): seconds per image on this machine's CPU.

    .venv/bin/python benchmarks/bench_nuclei.py [--model models/nuclei.pt] [--images N]

Aim (issue: nuclei segmentation): under 5 s per 1000 x 1000 image on 2 CPU cores.
Two figures, both measured in this run on the same images:

1. the whole job, ``python -m algorithm --task nuclei`` in a fresh process
   (imports, model loading, reading, tissue mask, stain fit, tiles, the mask
   written as MHA): what grand-challenge's exec mode pays per image;
2. the job's work with the model already loaded (tissue mask, stain fit,
   tiles, mask): what the invoke mode and a cohort run pay per image.

Printed as the median over the images and its ratio to the 5 s aim (below 1: met).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from algorithm.device import available_cpus  # noqa: E402
from algorithm.models import load_nuclei_segmenter  # noqa: E402
from algorithm.nuclei import segment_nuclei  # noqa: E402
from algorithm.slide import open_slide  # noqa: E402
from algorithm.tissue import tissue_mask  # noqa: E402
from benchmarks.common import run_job  # noqa: E402
from training.datasets.pictures import as_tiff  # noqa: E402
from training.nuclei.data import find_pairs  # noqa: E402

AIM_SECONDS = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        type=Path,
        default=ROOT / "models" / "nuclei.pt",
        help="the nuclei checkpoint (default models/nuclei.pt)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "nuclei" / "monuseg",
        help="MoNuSeg folder with images/ and masks/ (default ../shared/data/nuclei/monuseg beside the repository)",
    )
    parser.add_argument("--images", type=int, default=5, help="how many MoNuSeg images (default 5)")
    args = parser.parse_args()
    pairs = find_pairs(args.data / "images", args.data / "masks")[: args.images]
    with tempfile.TemporaryDirectory() as work:
        models = Path(work) / "models"
        models.mkdir()
        shutil.copy(args.model, models / "nuclei.pt")
        slides = [as_tiff(pair.image, 0.25, Path(work) / "images") for pair in pairs]
        model, config, checkpoint = load_nuclei_segmenter(args.model)
        loaded, jobs = [], []
        for slide_path in slides:
            start = time.perf_counter()
            with open_slide(slide_path) as slide:
                segment_nuclei(slide, tissue_mask(slide), model, config, checkpoint.get("stain"), torch.device("cpu"))
            loaded.append(time.perf_counter() - start)
            _, seconds, _ = run_job(slide_path, models, "--task", "nuclei")
            jobs.append(seconds)
            print(f"{slide_path.name}: job {seconds:.2f} s, model loaded {loaded[-1]:.2f} s", flush=True)
    cores = available_cpus()
    print(f"\n{len(slides)} images of 1000 x 1000 px on {cores} CPU cores (torch threads {torch.get_num_threads()}):")
    for label, values in (("whole job (fresh process)", jobs), ("model already loaded", loaded)):
        median = statistics.median(values)
        print(f"  {label:28s} median {median:5.2f} s  ratio to the {AIM_SECONDS:g} s aim {median / AIM_SECONDS:.2f}")


if __name__ == "__main__":
    main()
