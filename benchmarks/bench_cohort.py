"""A cohort on Ray against a sequential shell loop over ``python -m algorithm``.

    .venv/bin/python benchmarks/bench_cohort.py [--slides 24] [--workers 2] [--size 1024] [--task midog]

The same synthetic slides (generated once into --cache) run twice, each way measured in this
one run: (1) ``for s in slides/*.tiff; do python -m algorithm --input $s --output seq/...; done``
(a process per slide: start-up and model load every time), (2) ``python -m algorithm cohort``
with --workers Ray workers (models loaded once per worker; the local cluster's start counted).
Prints slides/hour both ways and their ratio, checks the outputs are byte-identical, and times a
second cohort run, which skips every slide. Quote the ratio; the absolute figures are the machine's.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from algorithm.errors import ConfigError  # noqa: E402
from benchmarks.common import add_cache_argument  # noqa: E402
from training.synth import SynthConfig, generate_slide  # noqa: E402


def slides(cache: Path, count: int, size: int) -> Path:
    """``count`` square synthetic slides of ``size`` px (half tumour, four scanners) in ``cache/cohort-...``."""
    folder = cache / f"cohort-{count}x{size}"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f"case-{i:03d}.tiff"
        if not path.exists():
            for seed in range(700 + 10 * i, 710 + 10 * i):  # the first seed whose tissue has room for the cells
                config = SynthConfig(
                    seed=seed,
                    width=size,
                    height=size,
                    label="tumour" if i % 2 == 0 else "normal",
                    mitoses=4,
                    imposters=4,
                    scanner="ABCD"[i % 4],
                    confounders=0.0,
                )
                try:
                    with tempfile.TemporaryDirectory() as scratch:
                        generate_slide(config, scratch, name=path.stem)
                        shutil.move(Path(scratch) / path.name, path)
                    break
                except ConfigError:
                    continue
    return folder


def timed(command: list[str]) -> float:
    """Wall seconds of ``command`` (run from the repository root; it must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def identical(a: Path, b: Path) -> bool:
    """Whether two output folders hold the same files with the same bytes."""
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    others = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return names == others and all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def main() -> None:
    """Measure both ways and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slides", type=int, default=24, help="synthetic slides in the cohort (default 24)")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers of the cohort run (default 2)")
    parser.add_argument("--size", type=int, default=1024, help="slide side in pixels, 0.25 um/px (default 1024)")
    parser.add_argument("--task", default="midog", help="the job's --task, both ways (default midog)")
    add_cache_argument(parser)
    args = parser.parse_args()
    folder = slides(args.cache, args.slides, args.size)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        loop = (
            f'for s in "{folder}"/*.tiff; do "{sys.executable}" -m algorithm --task {args.task} '
            f'--input "$s" --output "{out}/seq/$(basename "$s" .tiff)" || exit 1; done'
        )
        sequential = timed(["bash", "-c", loop])
        cohort = [sys.executable, "-m", "algorithm", "cohort", "--input", str(folder), "--output", str(out / "cohort")]
        cohort += ["--task", args.task, "--workers", str(args.workers)]
        first = timed(cohort)
        second = timed(cohort)
        same = all(identical(out / "seq" / p.stem, out / "cohort" / p.stem / "output") for p in folder.glob("*.tiff"))
    n = args.slides
    print(f"\ncohort of {n} synthetic slides, {args.size} x {args.size} px, task {args.task}")
    print(
        f"   sequential shell loop over python -m algorithm: {sequential:7.1f} s, {3600 * n / sequential:6.0f} slides/h"
    )
    print(
        f"   python -m algorithm cohort, {args.workers} workers:      {first:7.1f} s, {3600 * n / first:6.0f} slides/h"
    )
    print(f"   throughput cohort / loop = {sequential / first:.2f}")
    print(f"   second cohort run (every slide skipped): {second:.1f} s = {second / first:.2f} of the first")
    print(f"   outputs byte-identical to the single-slide runs: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
