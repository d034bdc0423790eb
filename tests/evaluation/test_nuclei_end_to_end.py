"""The nuclei task end to end: the kit's algorithm (``--task nuclei``) on real MoNuSeg images, its masks laid
out as grand-challenge hands them to an evaluation, and the kit's evaluation scoring them against MoNuSeg's
masks: the IoU and Dice it reports are those of the two masks, computed here directly."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from algorithm.interface.tasks import NUCLEI
from algorithm.job import BUNDLED_MODELS, NUCLEI_FILE, JobOptions, run_job
from evaluation.cli import main as evaluate
from tests.algorithm.nuclei_data import MONUSEG_MPP, TEST_IMAGE, monuseg, monuseg_tiff, train_checkpoint
from tests.evaluation.builders import image_input, interface

CASES = (TEST_IMAGE, "TCGA-A6-6782-01A-01-BS1")


def _model_dir(shared_data: Path, tmp_path: Path) -> Path:
    """The bundled nuclei model once it is there, else a briefly trained one."""
    if (BUNDLED_MODELS / NUCLEI_FILE).is_file():
        return BUNDLED_MODELS
    return train_checkpoint(shared_data, tmp_path / "model" / NUCLEI_FILE).parent


def _scores(truth: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    both = int(np.count_nonzero(truth & prediction))
    union = int(np.count_nonzero(truth | prediction))
    return {"iou": both / union, "dice": 2 * both / int(np.count_nonzero(truth) + np.count_nonzero(prediction))}


def test_nuclei_masks_are_scored_by_the_evaluation(tmp_path: Path, shared_data: Path) -> None:
    (tmp_path / "model").mkdir()
    model_dir = _model_dir(shared_data, tmp_path)
    input_dir, truth_dir = tmp_path / "input", tmp_path / "ground_truth"
    (truth_dir / "masks").mkdir(parents=True)
    (tmp_path / "slides").mkdir()
    socket = NUCLEI.outputs["nuclei_mask"]
    folder = str(PurePosixPath(socket.relative_path).parent)  # grand-challenge names an image socket's folder
    jobs, expected, pooled = [], {}, np.zeros(3, np.int64)
    for index, name in enumerate(CASES):
        slide = monuseg_tiff(shared_data, name, tmp_path / "slides" / f"{name}.tiff")
        pk = f"job-{index}"
        run_job(
            JobOptions(input=slide, output=input_dir / pk / "output", task=NUCLEI, model_dir=model_dir, device="cpu"),
            log=lambda _: None,
        )
        truth = monuseg(shared_data, name)[1]
        ppcm = 1e4 / MONUSEG_MPP  # resolution tags in pixels per centimetre: ITK reads 0.00025 mm spacing
        tifffile.imwrite(
            truth_dir / "masks" / f"{name}.tif",
            truth.astype(np.uint8) * 255,
            resolution=(ppcm, ppcm),
            resolutionunit="CENTIMETER",
            compression="zlib",
        )
        prediction = sitk.GetArrayFromImage(sitk.ReadImage(str(input_dir / pk / "output" / socket.relative_path)))
        assert prediction.shape == truth.shape
        expected[name] = _scores(truth, prediction > 0)
        pooled += [np.count_nonzero(truth & (prediction > 0)), np.count_nonzero(truth), np.count_nonzero(prediction)]
        jobs.append(
            {
                "pk": pk,
                "status": "Succeeded",
                "inputs": [image_input(slide.name, NUCLEI.slide.slug, NUCLEI.slide.relative_path)],
                "outputs": [
                    {
                        "file": None,
                        "image": {"name": PurePosixPath(socket.relative_path).name},
                        "value": None,
                        "interface": interface(socket.slug, folder, socket.kind, "Image"),
                    }
                ],
            }
        )
    (input_dir / "predictions.json").write_text(json.dumps(jobs))
    (truth_dir / "config.json").write_text(
        json.dumps({"metrics": ["segmentation"], "segmentation": {"socket": socket.slug}})
    )
    arguments = ["--input", str(input_dir), "--ground-truth", str(truth_dir), "--output", str(tmp_path / "output")]
    assert evaluate([*arguments, "--quiet"]) == 0
    metrics = json.loads((tmp_path / "output" / "metrics.json").read_text())
    for result in metrics["results"]:
        name = result["case"]
        assert result["segmentation"]["iou"] == pytest.approx(expected[name]["iou"], abs=1e-12), name
        assert result["segmentation"]["dice"] == pytest.approx(expected[name]["dice"], abs=1e-12), name
        assert 0 < result["segmentation"]["iou"] < 1
    assert sorted(r["case"] for r in metrics["results"]) == sorted(CASES)
    aggregate = metrics["aggregates"]["segmentation"]
    assert aggregate["n_cases"] == len(CASES)
    assert aggregate["mean_iou"] == pytest.approx(np.mean([s["iou"] for s in expected.values()]), abs=1e-12)
    assert aggregate["mean_dice"] == pytest.approx(np.mean([s["dice"] for s in expected.values()]), abs=1e-12)
    both, truth_pixels, predicted_pixels = (int(v) for v in pooled)
    assert aggregate["pooled_iou"] == pytest.approx(both / (truth_pixels + predicted_pixels - both), abs=1e-12)
