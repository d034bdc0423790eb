"""Stain normalisation throughput: per-slide fit + batched transform vs StainTools per tile.

    .venv/bin/python benchmarks/bench_stain.py [--tiles 256] [--batch 64] [--staintools-tiles 3]

Tiles are 256 x 256 crops of the shared real H&E images (../shared/data/he).
Ours: ``fit(target)`` once, ``fit_source`` once from 200k sampled tissue pixels,
then ``transform`` on batches of ``--batch`` tiles (numpy uint8, torch with 2
threads) -- through the full 256^3 lookup table (``use_lut=True``) and, for reference,
the direct computation (the GPU path). StainTools: ``StainNormalizer.transform``
per tile (it refits the source on every tile; SPAMS' Vahadane learns for a fixed
1 s), on a handful of tiles. Everything is measured in this one run; the ratios
are what to quote (the 2-core machine is shared, absolute numbers drift).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from algorithm.stain import get_normaliser, sample_tissue_pixels  # noqa: E402

HE_DIR = (ROOT / ".." / "shared" / "data" / "he").resolve()
TILE = 256


def load(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(HE_DIR / f"{name}.png") as im:
        return np.asarray(im.convert("RGB")).copy()


def crops(images: list[np.ndarray], n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = images[i % len(images)]
        y = rng.integers(0, img.shape[0] - TILE)
        x = rng.integers(0, img.shape[1] - TILE)
        out.append(img[y : y + TILE, x : x + TILE])
    return np.stack(out)


def timed(fn, repeats: int = 1) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def throughput(norm, tiles: np.ndarray, batch: int, rounds: int) -> float:
    """Median tiles/s over ``rounds`` passes of all tiles in batches."""
    rates = []
    for _ in range(rounds):
        t = time.perf_counter()
        for s in range(0, len(tiles), batch):
            norm.transform(tiles[s : s + batch])
        rates.append(len(tiles) / (time.perf_counter() - t))
    return statistics.median(rates)


def staintools_rate(method: str, target: np.ndarray, tiles: np.ndarray) -> float:
    import staintools

    st = staintools.ReinhardColorNormalizer() if method == "reinhard" else staintools.StainNormalizer(method)
    st.fit(target.copy())
    t = time.perf_counter()
    for tile in tiles:
        st.transform(tile.copy())  # copies: StainTools writes into its input
    return len(tiles) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", type=int, default=256, help="tiles per throughput pass (default 256)")
    ap.add_argument("--batch", type=int, default=64, help="tiles per transform call (default 64)")
    ap.add_argument("--rounds", type=int, default=3, help="throughput passes, the median reported (default 3)")
    ap.add_argument(
        "--staintools-tiles", type=int, default=3, help="tiles StainTools transforms per method (default 3)"
    )
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument(
        "--methods",
        default="macenko,vahadane,reinhard",
        help="stain methods to time, comma-separated (default macenko,vahadane,reinhard)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not HE_DIR.is_dir():
        sys.exit(f"shared H&E images not found at {HE_DIR}")

    source_imgs = [load("torchstain-source"), load("staintools-before")]
    target = load("torchstain-target")
    tiles = crops(source_imgs, args.tiles)
    slide_pixels = sample_tissue_pixels(np.concatenate([i.reshape(-1, 3) for i in source_imgs]), None, 200_000, 0)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(tiles)} tiles of {TILE}x{TILE}, "
        f"batches of {args.batch}, StainTools on {args.staintools_tiles} tiles per method"
    )
    rows = []
    for method in args.methods.split(","):
        norm = get_normaliser(method).fit(target)
        t_fit, _ = timed(functools.partial(norm.fit_source, slide_pixels))
        norm.use_lut = True
        t_lut, _ = timed(functools.partial(norm.lookup_table, "cpu"))
        lut_rate = throughput(norm, tiles, args.batch, args.rounds)
        norm.use_lut = False
        direct_rate = throughput(norm, tiles[: max(args.batch, len(tiles) // 4)], args.batch, 1)
        st_rate = staintools_rate(method, target, tiles[: args.staintools_tiles])
        # A 10,000-tile slide, end to end: fit_source + table + transform.
        slide_s = t_fit + t_lut + 10_000 / lut_rate
        slide_ratio = 10_000 / st_rate / slide_s
        rows.append((method, t_fit, t_lut, lut_rate, direct_rate, st_rate, lut_rate / st_rate, slide_ratio))

    head = (
        "method",
        "fit_source s",
        "table s",
        "ours tiles/s",
        "direct tiles/s",
        "StainTools tiles/s",
        "ratio",
        "10k-tile slide ratio",
    )
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for m, f, lut, r, d, s, ratio, slide in rows:
        print(f"{m} | {f:.2f} | {lut:.2f} | {r:,.0f} | {d:,.0f} | {s:.2f} | {ratio:,.0f}x | {slide:,.0f}x")


if __name__ == "__main__":
    main()
