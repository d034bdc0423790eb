"""The CPU models with torch's OpenMP threads spinning long (libgomp's default), briefly, or not at all (the kit's).

    .venv/bin/python benchmarks/bench_wait_policy.py [--rounds 3] [--batches 8] [--load 1] [--json FILE]

libgomp, torch's OpenMP on Linux, keeps a waiting thread spinning for 300,000
turns before it sleeps. On a machine of its own that saves a wake-up per
operator; where anything else runs (a laptop, a shared CI runner, a cohort's
other workers) a spinning thread holds a core that the thread it waits for
needs, and every operator's barrier waits out a scheduler's time slice. The
kit's commands set ``OMP_WAIT_POLICY=PASSIVE`` (no spin) unless the
environment says how threads wait (:mod:`algorithm.threads`); 2,000 turns
(``GOMP_SPINCOUNT``) is the third variant.

Fresh processes, the two policies alternated for ``--rounds`` rounds, each
timing the bundled detector (its 4 views) and the tumour segmenter over
``--batches`` batches of the benchmark slide's tiles (read and normalised
beforehand, as ``bench_engine.py``'s model-only runs), on an idle machine and
beside ``--load`` busy processes (each one core's worth of work): ms a batch,
medians, and each variant over libgomp's default.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from algorithm.threads import WAIT_VARIABLES  # noqa: E402

KINDS = ("detection", "segmentation")
DEFAULT = "libgomp default"
VARIANTS = {DEFAULT: {}, "2,000 spins": {"GOMP_SPINCOUNT": "2000"}, "PASSIVE (kit)": {"OMP_WAIT_POLICY": "PASSIVE"}}


def busy() -> None:
    """One core's worth of work until killed."""
    while True:
        pass


def child(kind: str, batches: int) -> None:
    """Time ``kind``'s model over ``batches`` prepared batches (``bench_engine.model_only``, warmed up on the
    first of them); print ms a batch as JSON."""
    import torch

    from algorithm.engine import EngineOptions
    from algorithm.slide import open_slide
    from algorithm.tissue import tissue_mask
    from benchmarks.bench_engine import model_only, prepared, slide_job
    from benchmarks.common import synthetic

    device = torch.device("cpu")
    with open_slide(synthetic(ROOT / "build" / "bench", 16384, 505)) as slide:
        mask = tissue_mask(slide)
        job = slide_job(kind, slide, mask, ROOT / "models", device, EngineOptions())
        tiles = prepared(slide, job.grid, job.fitted(slide, mask), EngineOptions(), device)[1 : batches + 1]
    seconds = model_only(job.tile_model, tiles, device, amp=False)
    print(json.dumps({"ms": seconds / len(tiles) * 1e3}))


def batch_ms(kind: str, variant: dict[str, str], batches: int) -> float:
    """One fresh process's ms a batch with ``variant``'s environment (set before torch loads, as the kit's
    commands do)."""
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES} | variant
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--batches", str(batches)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["ms"])


def measure(rounds: int, batches: int) -> dict[str, Any]:
    """Medians over ``rounds`` alternated rounds, per model and variant, and each over libgomp's default."""
    runs: dict[str, dict[str, list[float]]] = {kind: {name: [] for name in VARIANTS} for kind in KINDS}
    for _ in range(rounds):
        for kind in KINDS:
            for name, variant in VARIANTS.items():
                runs[kind][name].append(batch_ms(kind, variant, batches))
    result: dict[str, Any] = {}
    for kind, by_variant in runs.items():
        medians = {name: statistics.median(ms) for name, ms in by_variant.items()}
        ratios = {name: ms / medians[DEFAULT] for name, ms in medians.items() if name != DEFAULT}
        result[kind] = {"median_ms": medians, "runs_ms": by_variant, "over_default": ratios}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds per condition (default: 3)")
    parser.add_argument("--batches", type=int, default=8, help="batches of 8 tiles timed per process (default: 8)")
    parser.add_argument("--load", type=int, default=1, help="busy processes beside the models (default: 1)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.batches)
        return
    figures: dict[str, Any] = {"cpus": len(os.sched_getaffinity(0)), "load": args.load}
    figures["idle"] = measure(args.rounds, args.batches)
    workers = [multiprocessing.Process(target=busy, daemon=True) for _ in range(args.load)]
    for worker in workers:
        worker.start()
    try:
        figures["loaded"] = measure(args.rounds, args.batches)
    finally:
        for worker in workers:
            worker.kill()
    for condition in ("idle", "loaded"):
        label = "idle" if condition == "idle" else f"beside {args.load} busy process(es)"
        for kind, row in figures[condition].items():
            medians = row["median_ms"]
            ratios = row["over_default"].items()
            others = ", ".join(f"{name} {medians[name]:.0f} ms ({ratio:.3f}x)" for name, ratio in ratios)
            print(f"{label:>26}  {kind:<12}  {DEFAULT} {medians[DEFAULT]:.0f} ms a batch; {others}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
