"""The container's test case (evaluation/test/): reproducible, runnable without Docker, and correct.

Its expected metrics are checked here against computations that share no code
with the evaluation: grand_challenge_metrics' scorer on the raw JSON, scikit-learn,
and numpy on masks read with tifffile and upsampled by pixel repetition.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile
from grand_challenge_metrics.scorers import score_detection
from sklearn.metrics import average_precision_score, roc_auc_score

from evaluation.compare_metrics import compare
from evaluation.validation import Candidates
from tests.evaluation.metrics.test_detection import naive_hits

REPO = Path(__file__).resolve().parents[2]
TEST = REPO / "evaluation" / "test"
EXPECTED = json.loads((TEST / "expected_output" / "metrics.json").read_text())


def test_python_m_evaluation_reproduces_the_expected_metrics(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "evaluation",
            "--input",
            str(TEST / "input"),
            "--ground-truth",
            str(TEST / "ground_truth"),
            "--output",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert compare(EXPECTED, json.loads((tmp_path / "metrics.json").read_text()), rtol=1e-9, atol=1e-12) == []


def test_generator_is_deterministic_and_in_sync(tmp_path):
    spec = importlib.util.spec_from_file_location("make_test_case", TEST / "make_test_case.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    committed = sorted(
        p.relative_to(TEST)
        for p in TEST.rglob("*")
        if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts
    )
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated == committed
    for rel in committed:
        assert (tmp_path / rel).read_bytes() == (TEST / rel).read_bytes(), f"{rel} differs: rerun make_test_case.py"


def _jobs():
    """(image name, job pk, job entry) from predictions.json, read directly."""
    jobs = json.loads((TEST / "input" / "predictions.json").read_text())
    return {j["inputs"][0]["image"]["name"]: j for j in jobs}


def test_expected_detection_equals_independent_computation():
    truth = json.loads((TEST / "ground_truth" / "points.json").read_text())
    radius = json.loads((TEST / "ground_truth" / "config.json").read_text())["detection"]["radius_mm"]
    tp = fp = fn = 0
    hits, probs, n_truth = [], [], 0
    for image, job in _jobs().items():
        value = json.loads((TEST / "input" / job["pk"] / "output" / "mitotic-figures.json").read_text())
        gt = [[x, y, 0] for x, y in truth[image]["points"]]
        preds = [p["point"] for p in value["points"] if p["name"] == "mitotic figure"]
        s = score_detection(ground_truth=gt, predictions=preds, radius=radius)
        tp, fp, fn = tp + s.true_positives, fp + s.false_positives, fn + s.false_negatives
        cand = Candidates(
            np.array([p["point"][:2] for p in value["points"]]).reshape(-1, 2),
            np.array([p["probability"] for p in value["points"]]),
            np.ones(len(value["points"]), bool),
        )
        hits.append(naive_hits(np.array(truth[image]["points"]).reshape(-1, 2), cand))
        probs.append(cand.probability)
        n_truth += len(gt)
    det = EXPECTED["aggregates"]["detection"]
    assert (det["true_positives"], det["false_positives"], det["false_negatives"]) == (tp, fp, fn)
    assert det["f1_score"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-12)
    h, p = np.concatenate(hits), np.concatenate(probs)
    assert det["average_precision"] == pytest.approx(average_precision_score(h, p) * h.sum() / n_truth, abs=1e-12)


def test_expected_classification_and_major_axis_equal_independent_computation():
    rows = {r["case"]: r for r in csv.DictReader((TEST / "ground_truth" / "slides.csv").open())}
    jobs = _jobs()
    y, p, ok, err = [], [], [], []
    for image, row in rows.items():
        job = jobs[image]
        likelihood = next(o["value"] for o in job["outputs"] if o["interface"]["slug"] == "tumour-likelihood")
        axis = json.loads((TEST / "input" / job["pk"] / "output" / "tumour-major-axis.json").read_text())
        truth_axis = float(row["major_axis_mm"])
        y.append(int(row["label"]))
        p.append(likelihood)
        ok.append(abs(axis - truth_axis) / truth_axis <= 0.05)
        err.append(abs(axis - truth_axis))
    agg = EXPECTED["aggregates"]
    assert agg["classification"]["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert agg["major_axis"]["accuracy"] == pytest.approx(np.mean(ok), abs=1e-12)
    assert agg["major_axis"]["mean_absolute_error_mm"] == pytest.approx(np.mean(err), abs=1e-12)


def test_expected_segmentation_equals_independent_computation():
    jobs = _jobs()
    dices, ious = [], []
    for image, job in sorted(jobs.items()):
        truth = tifffile.imread(TEST / "ground_truth" / "masks" / image.replace(".tiff", ".tif")) > 0
        folder = TEST / "input" / job["pk"] / "output" / "images" / "nuclei-segmentation"
        [mha] = list(folder.glob("*.mha"))
        pred_image = sitk.ReadImage(str(mha))
        assert pred_image.GetSpacing() == pytest.approx((0.002, 0.002))  # half the truth's resolution
        pred = np.repeat(np.repeat(sitk.GetArrayFromImage(pred_image) > 0, 2, axis=0), 2, axis=1)
        inter, total, union = (truth & pred).sum(), truth.sum() + pred.sum(), (truth | pred).sum()
        dices.append(2 * inter / total if total else 1.0)
        ious.append(inter / union if union else 1.0)
    seg = EXPECTED["aggregates"]["segmentation"]
    assert seg["mean_dice"] == pytest.approx(np.mean(dices), abs=1e-12)
    assert seg["mean_iou"] == pytest.approx(np.mean(ious), abs=1e-12)
