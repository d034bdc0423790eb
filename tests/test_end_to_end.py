"""The organiser's flow, end to end: the kit's algorithm (bundled models, ``--task help``) on
synthetic slides, its outputs laid out as grand-challenge hands them to an evaluation, and the
kit's evaluation scoring them (AUC, major axis in micrometres, normal slides left out)."""

from __future__ import annotations

import json
from pathlib import Path

from algorithm.interface.tasks import HELP
from algorithm.job import BUNDLED_MODELS, JobOptions, run_job
from evaluation.cli import main as evaluate
from training.synth import SynthConfig, generate_slide

SLIDES = [("C", "tumour", 8100), ("D", "tumour", 8101), ("C", "normal", 8102), ("D", "normal", 8103)]


def _interface(slug: str, relative_path: str, kind: str, super_kind: str) -> dict:
    return {"slug": slug, "kind": kind, "super_kind": super_kind, "relative_path": relative_path}


def test_help_task_outputs_are_scored_by_the_evaluation(tmp_path: Path) -> None:
    input_dir, truth_dir = tmp_path / "input", tmp_path / "ground_truth"
    truth_dir.mkdir()
    jobs, rows = [], ["case,label,major_axis_mm"]
    for scanner, label, seed in SLIDES:
        config = SynthConfig(seed=seed, width=2048, height=2048, scanner=scanner, label=label, mitoses=0, imposters=0)
        made = generate_slide(config, tmp_path / "slides", name=f"case-{seed}")
        truth = json.loads(made.files.truth.read_text())
        rows.append(f"{made.files.slide.name},{int(label == 'tumour')},{truth['tumour']['major_axis_um'] / 1000:.6f}")
        pk = f"job-{seed}"
        out = input_dir / pk / "output"
        run_job(
            JobOptions(input=made.files.slide, output=out, task=HELP, model_dir=BUNDLED_MODELS, device="cpu"),
            log=lambda _: None,
        )
        likelihood = json.loads((out / "tumour-likelihood.json").read_text())
        outputs = [
            {
                "file": None,
                "image": None,
                "value": likelihood,  # grand-challenge keeps Floats inline
                "interface": _interface("tumour-likelihood", "tumour-likelihood.json", "Float", "Value"),
            }
        ]
        for result in ("tumour_major_axis_um", "tumour_major_axis_line"):
            socket = HELP.outputs[result]
            outputs.append(
                {
                    "file": f"https://grand-challenge.org/media/{pk}/{socket.relative_path}",
                    "image": None,
                    "value": None,
                    "interface": _interface(socket.slug, socket.relative_path, socket.kind, "File"),
                }
            )
        heatmap = HELP.outputs["tumour_heatmap"]
        outputs.append(
            {
                "file": None,
                "image": {"name": "heatmap.mha"},
                "value": None,
                "interface": _interface(heatmap.slug, "images/tumour-heatmap", "Heat Map", "Image"),
            }
        )
        jobs.append(
            {
                "pk": pk,
                "status": "Succeeded",
                "outputs": outputs,
                "inputs": [
                    {
                        "file": None,
                        "image": {"name": made.files.slide.name},
                        "value": None,
                        "interface": _interface(HELP.slide.slug, HELP.slide.relative_path, "Image", "Image"),
                    }
                ],
            }
        )
    (input_dir / "predictions.json").write_text(json.dumps(jobs))
    (truth_dir / "slides.csv").write_text("\n".join(rows) + "\n")
    (truth_dir / "config.json").write_text(
        json.dumps(
            {
                "metrics": ["classification", "major_axis"],
                "case_input": HELP.slide.slug,
                "ignore_outputs": ["tumour-major-axis-line", "tumour-heatmap"],
                "classification": {"socket": "tumour-likelihood", "bootstrap_samples": 50},
                "major_axis": {"socket": "tumour-major-axis", "unit": "um"},
            }
        )
    )
    assert (
        evaluate(
            [
                "--input",
                str(input_dir),
                "--ground-truth",
                str(truth_dir),
                "--output",
                str(tmp_path / "output"),
                "--quiet",
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "output" / "metrics.json").read_text())["aggregates"]
    assert metrics["classification"]["auc"] == 1.0
    axis = metrics["major_axis"]
    assert axis["n_cases"] == 2  # the normal slides have no axis to score
    assert axis["mean_relative_error"] < 0.15, axis  # micrometres read as micrometres, not 1000x off
