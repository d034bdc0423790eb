"""Benchmark the evaluation container's scoring: ``python benchmarks/bench_evaluation.py``.

Builds a synthetic MIDOG-style submission in a temporary folder (default 1,000
cases, 100 truth points and 100 candidate points each, in millimetres; every
job's output a separate JSON file, as on grand-challenge.org), then times
``python -m evaluation``'s work in-process: reading predictions.json and every
output, validating, matching (F1 via grand_challenge_metrics, AP/FROC),
aggregating and writing metrics.json. Prints the time and the per-case rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.cli import main  # noqa: E402


def build(root: Path, n_cases: int, n_points: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    size = (1.8, 1.35)
    truth, jobs = {}, []
    for i in range(n_cases):
        image = f"{i:05d}.tiff"
        gt = rng.uniform(0, size, (n_points, 2))
        truth[image] = {"points": gt.tolist(), "domain": f"domain {i % 7}", "size_mm": list(size)}
        near = gt[: n_points * 3 // 4] + rng.normal(0, 0.004, (n_points * 3 // 4, 2))
        xy = np.clip(np.concatenate([near, rng.uniform(0, size, (n_points - len(near), 2))]), 0, size)
        prob = rng.uniform(0, 1, n_points)
        points = [
            {"point": [x, y, 0], "probability": p, "name": "mitotic figure" if p >= 0.5 else "non-mitotic figure"}
            for (x, y), p in zip(xy.tolist(), prob.tolist(), strict=True)
        ]
        pk = f"job-{i:05d}"
        out = root / "input" / pk / "output"
        out.mkdir(parents=True)
        (out / "mitotic-figures.json").write_text(json.dumps({"type": "Multiple points", "points": points}))
        jobs.append(
            {
                "pk": pk,
                "status": "Succeeded",
                "inputs": [
                    {
                        "image": {"name": image},
                        "file": None,
                        "value": None,
                        "interface": {
                            "slug": "histopathology-region-of-interest-cropout",
                            "relative_path": "images/roi",
                        },
                    }
                ],
                "outputs": [
                    {
                        "image": None,
                        "file": "https://example/mitotic-figures.json",
                        "value": None,
                        "interface": {"slug": "mitotic-figures", "relative_path": "mitotic-figures.json"},
                    }
                ],
            }
        )
    (root / "ground_truth").mkdir()
    (root / "ground_truth" / "points.json").write_text(json.dumps(truth))
    (root / "input" / "predictions.json").write_text(json.dumps(jobs))


def run(n_cases: int, n_points: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-evaluation-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        build(root, n_cases, n_points)
        t1 = time.perf_counter()
        rc = main(
            [
                "--input",
                str(root / "input"),
                "--ground-truth",
                str(root / "ground_truth"),
                "--output",
                str(root / "output"),
                "--quiet",
            ]
        )
        t2 = time.perf_counter()
        if rc != 0:
            raise SystemExit(f"evaluation failed (exit {rc})")
        agg = json.loads((root / "output" / "metrics.json").read_text())["aggregates"]["detection"]
    elapsed = t2 - t1
    print(f"inputs: {n_cases} cases x {n_points} truth + {n_points} candidate points (built in {t1 - t0:.2f} s)")
    print(
        f"evaluation: {elapsed:.2f} s end to end ({n_cases / elapsed:.0f} cases/s, "
        f"{1000 * elapsed / n_cases:.2f} ms per case)"
    )
    print(
        f"f1_score={agg['f1_score']:.4f} average_precision={agg['average_precision']:.4f} "
        f"froc={agg['froc']['score']:.4f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000, help="cases (job outputs) in the submission (default 1000)")
    parser.add_argument(
        "--points", type=int, default=100, help="truth points and candidate points per case (default 100)"
    )
    args = parser.parse_args()
    run(args.cases, args.points)
