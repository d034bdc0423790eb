"""Generate the container's test case (deterministic): ``python evaluation/test/make_test_case.py``.

Writes, replacing what is there (``--root DIR`` writes elsewhere):

- ``input/``: ``predictions.json`` and each job's outputs, as grand-challenge
  lays them out (``input/<pk>/output/<relative path>``): points in
  ``mitotic-figures.json``, a ``tumour-likelihood`` given inline in
  predictions.json, a ``tumour-major-axis`` JSON file and a
  ``nuclei-segmentation`` image (``.mha`` at half the truth's resolution).
- ``ground_truth/``: ``points.json`` (two domains, image sizes), ``slides.csv``,
  ``masks/*.tif`` (TIFF with resolution tags) and ``config.json`` enabling all
  four metric families.
- ``expected_output/metrics.json``: what the evaluation produces on them. The
  headline numbers in it are checked against independent computations
  (grand_challenge_metrics, scikit-learn, numpy) in
  ``tests/evaluation/test_test_case.py``; ``test.sh`` compares the container's
  output with this file.

Six cases: one with no truth points, one without predicted points, candidates
named "non-mitotic figure" near truth points (they count for AP, not F1),
likelihoods on both sides of the threshold, major axes within and outside 5 %.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root, for `import evaluation`

from evaluation.config import parse_config  # noqa: E402
from evaluation.evaluate import evaluate  # noqa: E402
from evaluation.files import write_json_atomic  # noqa: E402

SEED = 20240521
IMAGE_SOCKET = "histopathology-region-of-interest-cropout"
SIZE_MM = (1.8, 1.35)  # a MIDOG region of interest: ~7200 x 5400 px at 0.25 um
TRUTH_SPACING_MM = 0.001
TRUTH_SHAPE = (96, 128)  # (height, width) of the truth masks
CONFIG = {
    "metrics": ["detection", "classification", "segmentation", "major_axis"],
    "case_input": IMAGE_SOCKET,
    "detection": {"socket": "mitotic-figures", "radius_mm": 0.0075},
    "classification": {"socket": "tumour-likelihood", "threshold": 0.5, "bootstrap_samples": 200, "seed": 7},
    "segmentation": {"socket": "nuclei-segmentation"},
    # This case's made-up algorithm writes millimetres, not the micrometres of the socket's definition.
    "major_axis": {"socket": "tumour-major-axis", "tolerance": 0.05, "unit": "mm"},
}
DOMAINS = ["human breast carcinoma"] * 3 + ["canine lymphoma"] * 3


def _interface(slug: str, kind: str, super_kind: str, relative_path: str) -> dict:
    return {"slug": slug, "kind": kind, "super_kind": super_kind, "relative_path": relative_path}


def _discs(shape: tuple[int, int], centres: list[tuple[float, float, float]]) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    mask = np.zeros(shape, dtype=np.uint8)
    for cx, cy, r in centres:
        mask[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = 1
    return mask


def _points(rng: np.random.Generator, truth: np.ndarray, case_index: int) -> list[dict[str, Any]]:
    """Candidates: hits, misses, imposters and false positives with varied names and probabilities."""
    out: list[dict[str, Any]] = []
    if case_index == 4:  # this case's algorithm found nothing
        return out
    for k, (x, y) in enumerate(truth):
        if k % 4 == 3:
            continue  # missed
        jitter = rng.uniform(-0.004, 0.004, 2)
        prob = float(rng.uniform(0.55, 0.99)) if k % 3 else float(rng.uniform(0.2, 0.45))
        name = "mitotic figure" if prob >= 0.5 else "non-mitotic figure"
        out.append({"point": [float(x + jitter[0]), float(y + jitter[1]), 0], "probability": prob, "name": name})
    for _ in range(int(rng.integers(1, 4))):  # false positives far from any truth point
        while True:
            p = rng.uniform(0.05, [SIZE_MM[0] - 0.05, SIZE_MM[1] - 0.05])
            if len(truth) == 0 or np.min(np.hypot(*(truth - p).T)) > 0.05:
                break
        prob = float(rng.uniform(0.1, 0.9))
        out.append(
            {
                "point": [float(p[0]), float(p[1]), 0],
                "probability": prob,
                "name": "mitotic figure" if prob >= 0.6 else "non-mitotic figure",
            }
        )
    if case_index == 1 and len(out) > 1:  # a near-duplicate of a hit: one TP, one FP
        dup = dict(out[0])
        dup["point"] = [out[0]["point"][0] + 0.002, out[0]["point"][1], 0]
        dup["probability"] = 0.51
        dup["name"] = "mitotic figure"
        out.append(dup)
    return out


def main(root: Path = HERE) -> None:
    """Write the test case under ``root`` (default: this folder)."""
    rng = np.random.default_rng(SEED)
    input_dir, gt_dir, expected_dir = root / "input", root / "ground_truth", root / "expected_output"
    for d in (input_dir, gt_dir, expected_dir):
        shutil.rmtree(d, ignore_errors=True)
    (gt_dir / "masks").mkdir(parents=True)
    expected_dir.mkdir(parents=True)

    points_gt: dict[str, dict] = {}
    slide_rows = ["case,label,major_axis_mm"]
    jobs = []
    labels = [1, 0, 1, 0, 1, 0]
    likelihoods = [0.91, 0.35, 0.48, 0.62, 0.77, 0.12]
    for i in range(6):
        image = f"{i + 1:03d}.tiff"
        n_truth = 0 if i == 2 else int(rng.integers(3, 9))
        truth = rng.uniform(0.05, [SIZE_MM[0] - 0.05, SIZE_MM[1] - 0.05], size=(n_truth, 2))
        points_gt[image] = {"points": truth.round(6).tolist(), "domain": DOMAINS[i], "size_mm": list(SIZE_MM)}
        truth = np.round(truth, 6)

        axis_truth = float(np.round(rng.uniform(5, 20), 3))
        rel = [0.01, -0.049, 0.12, -0.2, 0.0, 0.03][i]
        axis_pred = float(np.round(axis_truth * (1 + rel), 4))
        slide_rows.append(f"{image},{labels[i]},{axis_truth}")

        discs = [
            (float(rng.uniform(20, 108)), float(rng.uniform(20, 76)), float(rng.uniform(6, 14)))
            for _ in range(int(rng.integers(1, 4)))
        ]
        if i == 5:
            discs = []  # empty truth and empty prediction: a perfect case
        truth_mask = _discs(TRUTH_SHAPE, discs)
        img = sitk.GetImageFromArray(truth_mask)
        img.SetSpacing((TRUTH_SPACING_MM, TRUTH_SPACING_MM))
        sitk.WriteImage(img, str(gt_dir / "masks" / f"{i + 1:03d}.tif"))
        # The prediction: the same discs, shifted and resized, at half the resolution.
        pred_discs = [((cx + 3) / 2, (cy - 2) / 2, r * 0.9 / 2) for cx, cy, r in discs]
        pred_mask = _discs((TRUTH_SHAPE[0] // 2, TRUTH_SHAPE[1] // 2), pred_discs)

        pk = str(uuid.UUID(bytes=rng.bytes(16), version=4))
        out = input_dir / pk / "output"
        (out / "images" / "nuclei-segmentation").mkdir(parents=True)
        value = {"type": "Multiple points", "points": _points(rng, truth, i), "version": {"major": 1, "minor": 0}}
        (out / "mitotic-figures.json").write_text(json.dumps(value, indent=2) + "\n")
        (out / "tumour-major-axis.json").write_text(json.dumps(axis_pred) + "\n")
        seg = sitk.GetImageFromArray(pred_mask)
        seg.SetSpacing((2 * TRUTH_SPACING_MM, 2 * TRUTH_SPACING_MM))
        seg_name = f"{uuid.UUID(bytes=rng.bytes(16), version=4)}.mha"
        sitk.WriteImage(seg, str(out / "images" / "nuclei-segmentation" / seg_name), useCompression=True)
        jobs.append(
            {
                "pk": pk,
                "inputs": [
                    {
                        "file": None,
                        "image": {"name": image},
                        "value": None,
                        "interface": _interface(IMAGE_SOCKET, "Image", "Image", "images/histopathology-roi-cropout"),
                    }
                ],
                "outputs": [
                    {
                        "file": f"https://grand-challenge.org/media/some-link/{pk}/mitotic-figures.json",
                        "image": None,
                        "value": None,
                        "interface": _interface("mitotic-figures", "Multiple points", "File", "mitotic-figures.json"),
                    },
                    {
                        "file": None,
                        "image": None,
                        "value": likelihoods[i],
                        "interface": _interface("tumour-likelihood", "Float", "Value", "tumour-likelihood.json"),
                    },
                    {
                        "file": f"https://grand-challenge.org/media/some-link/{pk}/tumour-major-axis.json",
                        "image": None,
                        "value": None,
                        "interface": _interface("tumour-major-axis", "Float", "File", "tumour-major-axis.json"),
                    },
                    {
                        "file": None,
                        "image": {"name": seg_name},
                        "value": None,
                        "interface": _interface(
                            "nuclei-segmentation", "Segmentation", "Image", "images/nuclei-segmentation"
                        ),
                    },
                ],
                "status": "Succeeded",
                "started_at": "2024-05-21T10:00:00Z",
                "completed_at": "2024-05-21T10:01:00Z",
            }
        )
    # grand-challenge lists jobs in no particular order; so do we.
    jobs = [jobs[k] for k in (3, 0, 5, 1, 4, 2)]
    (input_dir / "predictions.json").write_text(json.dumps(jobs, indent=2) + "\n")
    (gt_dir / "points.json").write_text(json.dumps(points_gt, indent=2) + "\n")
    (gt_dir / "slides.csv").write_text("\n".join(slide_rows) + "\n")
    (gt_dir / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")

    metrics = evaluate(input_dir, gt_dir, parse_config(CONFIG))
    write_json_atomic(expected_dir / "metrics.json", metrics)
    print(f"wrote {input_dir}, {gt_dir}, {expected_dir / 'metrics.json'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Generate the evaluation container's test case.")
    parser.add_argument("--root", type=Path, default=HERE, help="where to write it (default: %(default)s)")
    main(parser.parse_args().root)
