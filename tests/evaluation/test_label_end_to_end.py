"""The slide-label task end to end: the kit's algorithm (``--task label``) on small slides, its two outputs
laid out as grand-challenge hands them to an evaluation, and the kit's evaluation scoring them: F1 from the
calls (``slide-label``), AUC from the likelihoods, both computed here directly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from algorithm.interface.tasks import LABEL
from algorithm.job import JobOptions, run_job
from evaluation.cli import main as evaluate
from tests.algorithm.label_models import write_label_models
from tests.conftest import blob_image, write_pyramid_tiff
from tests.evaluation.builders import image_input, interface

TRUTH = (1, 0, 1, 0, 1, 0)  # slide labels; the (random) models' calls are scored against them


def test_slide_labels_are_scored_by_the_evaluation(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    write_label_models(model_dir)
    input_dir, truth_dir = tmp_path / "input", tmp_path / "ground_truth"
    truth_dir.mkdir()
    (tmp_path / "slides").mkdir()
    likelihood_socket, label_socket = LABEL.outputs["slide_likelihood"], LABEL.outputs["slide_label"]
    jobs, likelihoods, calls = [], [], []
    for index in range(len(TRUTH)):
        slide = write_pyramid_tiff(
            tmp_path / "slides" / f"case{index}.tiff", blob_image(640, 480, seed=index), mpp=0.5, tile=128
        )
        pk = f"job-{index}"
        out = input_dir / pk / "output"
        run_job(JobOptions(input=slide, output=out, task=LABEL, model_dir=model_dir, device="cpu"), log=lambda _: None)
        likelihoods.append(json.loads((out / likelihood_socket.relative_path).read_text()))
        calls.append(json.loads((out / label_socket.relative_path).read_text()))
        jobs.append(
            {
                "pk": pk,
                "status": "Succeeded",
                "inputs": [image_input(slide.name, LABEL.slide.slug, LABEL.slide.relative_path)],
                "outputs": [
                    {
                        "file": None,
                        "image": None,
                        "value": value,
                        "interface": interface(socket.slug, socket.relative_path, socket.kind, "Value"),
                    }
                    for socket, value in ((likelihood_socket, likelihoods[-1]), (label_socket, calls[-1]))
                ],
            }
        )
    assert len(set(likelihoods)) == len(TRUTH)  # the slides differ, and so do the model's answers
    (input_dir / "predictions.json").write_text(json.dumps(jobs))
    (truth_dir / "slides.csv").write_text("case,label\n" + "".join(f"case{i},{y}\n" for i, y in enumerate(TRUTH)))
    config = {
        "metrics": ["classification"],
        "classification": {"socket": "slide-label-likelihood", "label_socket": "slide-label"},
    }
    (truth_dir / "config.json").write_text(json.dumps(config))
    arguments = ["--input", str(input_dir), "--ground-truth", str(truth_dir), "--output", str(tmp_path / "output")]
    assert evaluate([*arguments, "--quiet"]) == 0
    metrics = json.loads((tmp_path / "output" / "metrics.json").read_text())
    aggregate = metrics["aggregates"]["classification"]
    assert aggregate["n_cases"] == len(TRUTH)
    assert aggregate["auc"] == pytest.approx(roc_auc_score(TRUTH, likelihoods), abs=1e-12)
    assert aggregate["f1_score"] == pytest.approx(f1_score(TRUTH, np.array(calls, int), zero_division=0.0), abs=1e-12)
    assert aggregate["label_socket"] == "slide-label"
    by_case = {r["case"]: r["classification"] for r in metrics["results"]}
    for i, (likelihood, call) in enumerate(zip(likelihoods, calls, strict=True)):
        assert by_case[f"case{i}"]["likelihood"] == likelihood
        assert by_case[f"case{i}"]["predicted_label"] == int(call)
