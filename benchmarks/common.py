"""What the benchmarks share: cached synthetic slides and a measured ``python -m algorithm`` process."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from training.synth import SynthConfig, generate_slide

ROOT = Path(__file__).resolve().parents[1]


def add_cache_argument(parser: argparse.ArgumentParser) -> None:
    """``--cache``: where the benchmarks' synthetic slides are generated once and reused from."""
    parser.add_argument(
        "--cache",
        type=Path,
        default=ROOT / "build" / "bench",
        help="folder the synthetic slides are generated into once and reused from (default build/bench)",
    )


def synthetic(cache: Path, size: int, seed: int, glass: bool = False) -> Path:
    """A square synthetic tumour slide (or plain glass) of ``size`` px, generated once into ``cache``."""
    name = f"bench-{size}-{seed}{'-glass' if glass else ''}"
    path = cache / f"{name}.tiff"
    if not path.exists():
        print(f"generating {path.name} ...", flush=True)
        config = SynthConfig(
            seed=seed, width=size, height=size, label="tumour", mitoses=20, imposters=20, confounders=0.0
        )
        if glass:
            from training.synth.pyramid import TiffOptions, write_pyramid

            white = np.full((1, 1, 3), 242, np.uint8)
            write_pyramid(
                path, size, size, 0.25, lambda x, y, w, h, d: np.broadcast_to(white, (h, w, 3)).copy(), TiffOptions()
            )
        else:
            generate_slide(config, cache, name=name)
    return path


# The child reports its own high-water mark (VmHWM) at exit: the rusage of a
# forked child would include the pages it inherited from this (torch-loaded) process.
_CHILD = (
    "import atexit, runpy, sys\n"
    "def hwm():\n"
    "    status = open('/proc/self/status').read()\n"
    "    print('VmHWM', status.split('VmHWM:')[1].split()[0], file=sys.stderr)\n"
    "atexit.register(hwm)\n"
    "sys.argv = ['algorithm'] + sys.argv[1:]\n"
    "runpy.run_module('algorithm', run_name='__main__', alter_sys=True)\n"
)


def run_job(slide: Path, model_dir: Path, *args: str) -> tuple[float, float, str]:
    """Peak RSS (MB), wall seconds and last log line of one ``python -m algorithm`` process."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                _CHILD,
                "--input",
                str(slide),
                "--output",
                out,
                "--model-dir",
                str(model_dir),
                "--device",
                "cpu",
                *args,
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        seconds = time.perf_counter() - start
    err = proc.stderr.strip().splitlines()
    if proc.returncode != 0:
        raise SystemExit(f"job failed on {slide}: {err[-1] if err else proc.returncode}")
    peak_kb = int(next(line.split()[1] for line in err if line.startswith("VmHWM")))
    summary = [line for line in err if not line.startswith("VmHWM") and " written in " not in line]
    return peak_kb / 1024, seconds, summary[-1] if summary else ""
