"""The nuclei task: a uint8 mask on the input's grid, read back as grand-challenge's viewer would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from algorithm.interface.tasks import NUCLEI
from algorithm.job import JobOptions, Runtime, run_job
from algorithm.models import load_nuclei_segmenter
from algorithm.nuclei import heatmap_factor, mask_downsample, segment_nuclei
from algorithm.slide import open_slide
from algorithm.tissue import tissue_mask
from tests.algorithm.nuclei_data import TEST_IMAGE, monuseg, monuseg_tiff, train_checkpoint
from tests.conftest import REPO, write_pyramid_tiff

MASK = "images/nuclei-segmentation/nuclei.mha"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    folder = tmp_path_factory.mktemp("nuclei-model")
    train_checkpoint(shared_data, folder / "nuclei.pt")
    return folder


@pytest.fixture(scope="module")
def roi(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A MoNuSeg image as a 1000 x 1000 TIFF at 0.25 um/px."""
    return monuseg_tiff(shared_data, TEST_IMAGE, tmp_path_factory.mktemp("roi") / "roi.tiff")


def _job(slide: Path, out: Path, model_dir: Path) -> Path:
    run_job(JobOptions(input=slide, output=out, task=NUCLEI, model_dir=model_dir, device="cpu"), log=lambda _: None)
    return out / MASK


def test_the_mask_lies_on_the_input_grid(tmp_path: Path, roi: Path, model_dir: Path, shared_data: Path) -> None:
    lines: list[str] = []
    result = run_job(
        JobOptions(input=roi, output=tmp_path / "out", task=NUCLEI, model_dir=model_dir, device="cpu"), log=lines.append
    )
    assert result.written == [tmp_path / "out" / MASK] and result.nuclei is not None
    image = sitk.ReadImage(str(tmp_path / "out" / MASK))
    assert image.GetSize() == (1000, 1000) and image.GetPixelID() == sitk.sitkUInt8
    assert image.GetSpacing() == pytest.approx((0.00025, 0.00025), rel=1e-9)
    assert image.GetOrigin() == (0.0, 0.0)
    mask = sitk.GetArrayFromImage(image)
    assert np.array_equal(mask, result.nuclei.mask) and set(np.unique(mask)) == {0, 1}
    truth = monuseg(shared_data, TEST_IMAGE)[1]
    share = mask.mean()
    assert 0.02 < share < 0.6  # a briefly trained model: nuclei, not nothing and not everything
    assert (mask.astype(bool) & truth).sum() > 0.5 * mask.sum()  # mostly on nuclei (chance: the truth's 0.3)
    summary = next(line for line in lines if "nuclei mask" in line)
    assert "tiles with tissue, nuclei mask 1000x1000 px at 0.25 um/px (downsample 1)" in summary
    assert f"{100 * share:.1f} % nuclei pixels" in summary and " nuclei (threshold 0.50)" in summary


def test_a_large_input_gets_a_power_of_two_downsampled_grid(roi: Path, model_dir: Path) -> None:
    model, config, checkpoint = load_nuclei_segmenter(model_dir / "nuclei.pt")
    with open_slide(roi) as slide:
        mask = tissue_mask(slide)
        full = segment_nuclei(slide, mask, model, config, checkpoint["stain"], torch.device("cpu"))
        small = segment_nuclei(slide, mask, model, config, checkpoint["stain"], torch.device("cpu"), max_pixels=300_000)
        mpp = slide.mpp
    assert (full.downsample, full.mask.shape) == (1, (1000, 1000))
    assert (small.downsample, small.mask.shape) == (2, (500, 500))  # 1000 x 1000 > 300 000; 500 x 500 fits
    assert small.segmentation.heatmap.downsample == pytest.approx(2.0)  # the model's own resolution, not coarser
    # the same probabilities sampled at the centres of 2 x 2 blocks: nearly the full mask, pooled
    pooled = full.mask.reshape(500, 2, 500, 2).mean(axis=(1, 3))
    assert np.mean(small.mask == (pooled >= 0.5)) > 0.95
    image = sitk.ReadImage(str(_write(small.results(mpp)["nuclei_mask"], roi.parent / "small.mha")))
    assert image.GetSize() == (500, 500)
    assert image.GetSpacing() == pytest.approx((0.0005, 0.0005), rel=1e-9)
    # a mask pixel's centre is at the centre of the 2 x 2 level-0 pixels it covers: half a level-0 pixel in
    assert image.GetOrigin() == pytest.approx((0.000125, 0.000125), rel=1e-9)


def _write(data: bytes, path: Path) -> Path:
    path.write_bytes(data)
    return path


def test_output_grid_and_stitching_resolution_rules() -> None:
    assert mask_downsample((1000, 1000)) == 1
    assert mask_downsample((8000, 8000)) == 1  # 64 000 000 pixels: still level 0
    assert mask_downsample((8001, 8000)) == 2
    assert mask_downsample((100_000, 80_000)) == 16  # 6250 x 5000
    assert heatmap_factor(256, 2.0, 1) == 1  # on level 0: the model's resolution
    assert heatmap_factor(256, 2.0, 2) == 1
    assert heatmap_factor(256, 2.0, 16) == 8
    assert heatmap_factor(256, 1.0, 4096) == 256  # never more than the tile


def test_a_slide_without_tissue_gives_an_empty_mask_of_its_size(tmp_path: Path, model_dir: Path) -> None:
    glass = write_pyramid_tiff(tmp_path / "glass.tiff", np.full((300, 500, 3), 244, np.uint8), mpp=0.25, levels=1)
    result = run_job(
        JobOptions(input=glass, output=tmp_path / "out", task=NUCLEI, model_dir=model_dir, device="cpu"),
        log=lambda _: None,
    )
    assert result.nuclei is not None and result.nuclei.segmentation.tiles == 0
    image = sitk.ReadImage(str(tmp_path / "out" / MASK))
    assert image.GetSize() == (500, 300) and not sitk.GetArrayFromImage(image).any()


def test_the_mask_is_deterministic_on_the_cpu(tmp_path: Path, roi: Path, model_dir: Path) -> None:
    first, second = (_job(roi, tmp_path / name, model_dir) for name in ("a", "b"))
    assert first.read_bytes() == second.read_bytes()


def test_the_invoke_runtime_loads_the_nuclei_model_once(tmp_path: Path, roi: Path, model_dir: Path) -> None:
    runtime = Runtime.load([NUCLEI], model_dir, "cpu", log=lambda _: None)
    assert runtime.models.nuclei is not None and runtime.models.detector is None
    for name in ("a", "b"):
        options = JobOptions(input=roi, output=tmp_path / name, task=NUCLEI, model_dir=model_dir)
        run_job(options, log=lambda _: None, runtime=runtime)
    assert (tmp_path / "a" / MASK).read_bytes() == _job(roi, tmp_path / "exec", model_dir).read_bytes()
    assert (tmp_path / "b" / MASK).read_bytes() == (tmp_path / "a" / MASK).read_bytes()


def test_a_corrupt_image_is_one_error_line_and_no_output(tmp_path: Path, roi: Path, model_dir: Path) -> None:
    data = roi.read_bytes()
    corrupt = tmp_path / "roi.tiff"
    corrupt.write_bytes(data[: len(data) // 2])
    command = [sys.executable, "-m", "algorithm", "--task", "nuclei", "--input", str(corrupt)]
    command += ["--output", str(tmp_path / "out"), "--model-dir", str(model_dir), "--device", "cpu"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "roi.tiff" in errors[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
