"""The detector on the CPU with glibc's large blocks on 4 KiB pages (the default) and on 2 MiB pages.

    .venv/bin/python benchmarks/bench_malloc.py [--rounds 5] [--batches 16]

Each batch's activations are freed after it; glibc may hand such blocks back to
the kernel and map them afresh for the next batch, and every 4 KiB page of them
then faults on first touch (about 27,000 faults a batch of 8 detector tiles,
expensive under a hypervisor). ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (glibc
2.35 and later; the container sets it) asks for transparent 2 MiB pages for
them, where the kernel allows THP. Fresh processes, the two alternated for
``--rounds`` rounds, on the benchmark slide's own tiles read and normalised
beforehand: ms a batch and page faults a batch, medians and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HUGE = "glibc.malloc.hugetlb=1"


def child(batches: int) -> None:
    """Time the detector (forward, post-processing, results to the host) over ``batches`` batches."""
    import torch

    from algorithm.engine import EngineOptions
    from algorithm.slide import open_slide
    from algorithm.tissue import tissue_mask
    from benchmarks.bench_engine import prepared, slide_job
    from benchmarks.common import synthetic

    device = torch.device("cpu")
    with open_slide(synthetic(ROOT / "build" / "bench", 16384, 505)) as slide:
        mask = tissue_mask(slide)
        job = slide_job("detection", slide, mask, ROOT / "models", device, EngineOptions())
        tiles = prepared(slide, job.grid, job.fitted(slide, mask), EngineOptions(), device)[: batches + 1]
    model: Any = job.tile_model  # the detector's DetectionModel
    # bench_engine.model_only's loop, with the page faults counted after its warm-up, not with it
    with torch.inference_mode():
        model.to_host(model.postprocess(model.forward(tiles[0])))  # warm-up
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        for x in tiles[1:]:
            model.to_host(model.postprocess(model.forward(x)))
        seconds = time.perf_counter() - start
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    n = len(tiles) - 1
    print(json.dumps({"ms": seconds / n * 1e3, "faults": faults / n}))


def run(tunables: str | None, batches: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if tunables:
        env["GLIBC_TUNABLES"] = tunables
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--batches", str(batches)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds, each a fresh process with either page size (default 5)"
    )
    parser.add_argument("--batches", type=int, default=16, help="batches of 8 tiles timed per process (default 16)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.batches)
        return
    results: dict[str, list[dict[str, float]]] = {"4 KiB pages": [], "2 MiB pages": []}
    for k in range(args.rounds):
        for label, tunables in (("4 KiB pages", None), ("2 MiB pages", HUGE)):
            r = run(tunables, args.batches)
            results[label].append(r)
            print(f"round {k + 1} {label}: {r['ms']:.0f} ms a batch, {r['faults']:.0f} page faults a batch", flush=True)
    medians = {label: statistics.median(r["ms"] for r in rs) for label, rs in results.items()}
    for label, rs in results.items():
        faults = statistics.median(r["faults"] for r in rs)
        print(f"{label}: median {medians[label]:.0f} ms a batch, {faults:.0f} page faults a batch")
    print(f"2 MiB / 4 KiB pages = {medians['2 MiB pages'] / medians['4 KiB pages']:.3f} (time a batch)")


if __name__ == "__main__":
    main()
