from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from sklearn.linear_model import LogisticRegression

from algorithm.classify import SlideModel
from algorithm.classify.estimators import FeatureValue
from algorithm.engine import ClassifierModel, DetectionModel, ProbabilityModel
from algorithm.engine.warmup import warm_up
from algorithm.errors import ConfigError, SlideError
from algorithm.features import FeatureConfig
from algorithm.interface.tasks import ALL, HELP, LABEL, MIDOG, load_tasks
from algorithm.job import BUNDLED_MODELS, JobOptions, Models, model_files, run_job
from algorithm.models import (
    DetectorConfig,
    SegmenterConfig,
    UNetConfig,
    build_detector,
    build_segmenter,
    build_unet,
    load_detector,
    save_checkpoint,
)
from algorithm.stain import get_normaliser
from tests.algorithm.label_models import write_label_models
from tests.conftest import REPO, blob_image, write_pyramid_tiff


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised small detector with a Macenko stain target: the real loading path."""
    folder = tmp_path_factory.mktemp("model")
    config = DetectorConfig(tile_size=128, mpp=1.0)
    stain = get_normaliser("macenko").fit(blob_image(300, 200, seed=4)).params()
    save_checkpoint(
        folder / "detector.pt",
        "detector",
        config.to_dict(),
        build_detector(config),
        extra={"stain": stain, "threshold": 0.3},
    )
    seg_config = SegmenterConfig(tile_size=64, mpp=2.0)
    save_checkpoint(
        folder / "segmenter.pt", "segmenter", seg_config.to_dict(), build_segmenter(seg_config), extra={"stain": stain}
    )
    slide_model(FeatureConfig()).save(folder / "slide_model.joblib")
    unet_config = UNetConfig(widths=(4, 8), tile_size=64, mpp=1.0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        unet = build_unet(unet_config)
    save_checkpoint(folder / "nuclei.pt", "nuclei", unet_config.to_dict(), unet, extra={"stain": stain})
    write_label_models(folder, stain)
    return folder


def slide_model(features: FeatureConfig) -> SlideModel:
    """A real (if untrained-looking) slide model: tumour when the 0.5-threshold tumour ratio is high."""
    names = features.names()
    rng = np.random.default_rng(0)
    X = rng.random((20, len(names)))
    y = (X[:, names.index("s4_t0.5_tumour_ratio")] > 0.5).astype(int)
    axis_column = names.index("s4_t0.5_major_axis_um")
    return SlideModel(
        LogisticRegression().fit(X, y), FeatureValue(axis_column).fit(X), features, names, "s4_t0.5_major_axis_um"
    )


def _points(path: Path) -> dict:
    return json.loads((path / "mitotic-figures.json").read_text())


def test_job_writes_a_valid_points_file(tmp_path: Path, model_dir: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "slide.tiff", blob_image(1200, 800), mpp=0.5, tile=128)
    job = run_job(JobOptions(input=slide, output=tmp_path / "out", task=MIDOG, model_dir=model_dir), log=lambda _: None)
    found = job.detections
    assert found is not None and job.threshold == 0.3  # the checkpoint's, recorded for the QC picture
    result = _points(tmp_path / "out")
    assert result["type"] == "Multiple points" and result["version"] == {"major": 1, "minor": 0}
    assert len(result["points"]) == int((found.candidates.labels == 1).sum())
    width_mm, height_mm = 1200 * 0.5e-3, 800 * 0.5e-3
    for p in result["points"]:
        assert 0 <= p["point"][0] <= width_mm and 0 <= p["point"][1] <= height_mm and p["point"][2] == 0
        assert p["name"] == ("mitotic figure" if p["probability"] >= 0.3 else "non-mitotic figure")
    assert 0 < found.tiles < found.tiles_total


def test_job_is_deterministic(tmp_path: Path, model_dir: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "slide.tiff", blob_image(900, 600), mpp=0.5, tile=128)
    for out in ("a", "b"):
        run_job(JobOptions(input=slide, output=tmp_path / out, task=MIDOG, model_dir=model_dir), log=lambda _: None)
    assert (tmp_path / "a" / "mitotic-figures.json").read_bytes() == (
        tmp_path / "b" / "mitotic-figures.json"
    ).read_bytes()


def test_slide_without_tissue_gives_empty_points(tmp_path: Path, model_dir: Path) -> None:
    glass = write_pyramid_tiff(tmp_path / "glass.tiff", np.full((600, 800, 3), 244, np.uint8), mpp=0.5)
    found = run_job(
        JobOptions(input=glass, output=tmp_path / "out", task=MIDOG, model_dir=model_dir), log=lambda _: None
    ).detections
    assert found is not None and found.tiles == 0
    assert _points(tmp_path / "out")["points"] == []


def test_corrupt_slide_writes_nothing(tmp_path: Path, model_dir: Path, shared_data: Path) -> None:
    with pytest.raises(SlideError, match=r"unreadable\.svs"):
        run_job(
            JobOptions(
                input=shared_data / "openslide" / "unreadable.svs",
                output=tmp_path / "out",
                task=MIDOG,
                model_dir=model_dir,
            ),
            log=lambda _: None,
        )
    assert not (tmp_path / "out").exists()


def test_missing_model_folder(tmp_path: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "slide.tiff", blob_image(300, 200), mpp=0.5)
    with pytest.raises(ConfigError, match=r"nowhere: model folder not found"):
        run_job(
            JobOptions(input=slide, output=tmp_path / "out", task=MIDOG, model_dir=tmp_path / "nowhere"),
            log=lambda _: None,
        )
    assert not (tmp_path / "out").exists()


def test_command_line_job(tmp_path: Path, model_dir: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "slide.tiff", blob_image(600, 400), mpp=0.5, tile=128)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "algorithm",
            "--input",
            str(slide),
            "--output",
            str(tmp_path / "out"),
            "--model-dir",
            str(model_dir),
            "--device",
            "cpu",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("algorithm ") and "device cpu" in lines[0] and "no GPU visible" in lines[0]
    assert lines[1].startswith("slide.tiff: ") and "tiles with tissue" in lines[1]
    assert lines[-1].startswith("slide.tiff: 1 output written")
    assert (tmp_path / "out" / "mitotic-figures.json").exists()


def test_views_override_the_detectors_own(tmp_path: Path) -> None:
    """The job runs the checkpoint's test-time views (the bundled detector's 4) unless told otherwise; with 1 it
    detects each tile once: other candidates, and the detection line says which."""
    slide = write_pyramid_tiff(tmp_path / "slide.tiff", blob_image(600, 400), mpp=0.25, tile=128)
    found = {}
    for views in (None, 1):
        options = JobOptions(
            input=slide, output=tmp_path / f"out-{views}", task=MIDOG, model_dir=REPO / "models", views=views
        )
        lines: list[str] = []
        result = run_job(options, log=lines.append)
        assert result.detections is not None
        found[views] = result.detections.candidates
        (line,) = [line for line in lines if "tiles with tissue" in line]
        assert ("(4 views each)" in line) == (views is None), line
    assert len(found[1]) > 0 and not np.array_equal(found[None].scores, found[1].scores)


def test_cuda_asked_for_but_absent_is_an_error(tmp_path: Path, model_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        run_job(
            JobOptions(input=tmp_path, output=tmp_path / "out", task=MIDOG, model_dir=model_dir, device="cuda"),
            log=lambda _: None,
        )


def test_slide_level_task_writes_its_four_outputs(tmp_path: Path, model_dir: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "slide.tiff", blob_image(1200, 800), mpp=0.5, tile=128)
    result = run_job(
        JobOptions(input=slide, output=tmp_path / "out", task=HELP, model_dir=model_dir), log=lambda _: None
    )
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "images/tumour-heatmap/heatmap.mha",
        "tumour-likelihood.json",
        "tumour-major-axis-line.json",
        "tumour-major-axis.json",
    ]
    probability = json.loads((out / "tumour-likelihood.json").read_text())
    axis = json.loads((out / "tumour-major-axis.json").read_text())
    assert result.tumour is not None and result.tumour.prediction is not None
    assert probability == result.tumour.prediction.tumour_probability and 0 <= probability <= 1
    assert axis == result.tumour.prediction.major_axis_um and axis >= 0
    line = json.loads((out / "tumour-major-axis-line.json").read_text())
    assert line["type"] == "Distance measurement" and line["version"] == {"major": 1, "minor": 0}
    length_mm = float(np.hypot(*np.subtract(line["end"][:2], line["start"][:2])))
    assert length_mm == pytest.approx(axis / 1000, abs=1e-6)  # the line is as long as the number says
    image = sitk.ReadImage(str(out / "images/tumour-heatmap/heatmap.mha"))
    assert np.allclose(image.GetSpacing(), (result.tumour.heatmap.heatmap.mpp / 1000,) * 2)
    assert np.array_equal(sitk.GetArrayFromImage(image), result.tumour.heatmap.heatmap.probability)
    assert result.detections is None  # the task asks for no mitoses: the detector does not run


def test_label_task_writes_the_likelihood_and_the_call(tmp_path: Path, model_dir: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "slide.tiff", blob_image(1200, 800), mpp=0.5, tile=128)
    result = run_job(
        JobOptions(input=slide, output=tmp_path / "out", task=LABEL, model_dir=model_dir), log=lambda _: None
    )
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["slide-label-likelihood.json", "slide-label.json"]
    assert result.label is not None and len(result.label.patches.probabilities) > 0
    likelihood = json.loads((out / "slide-label-likelihood.json").read_text())
    assert likelihood == result.label.prediction.likelihood and 0 <= likelihood <= 1
    assert (out / "slide-label.json").read_text().strip() in ("true", "false")
    assert json.loads((out / "slide-label.json").read_text()) == (likelihood >= 0.5)
    assert result.detections is None and result.tumour is None  # only the label's models run


def test_all_task_is_deterministic(tmp_path: Path, model_dir: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "slide.tiff", blob_image(900, 600), mpp=0.5, tile=128)
    for out in ("a", "b"):
        run_job(JobOptions(input=slide, output=tmp_path / out, task=ALL, model_dir=model_dir), log=lambda _: None)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 6 and Path("images/nuclei-segmentation/nuclei.mha") in files
    mask = sitk.ReadImage(str(tmp_path / "a" / "images/nuclei-segmentation/nuclei.mha"))
    assert mask.GetSize() == (900, 600) and mask.GetSpacing() == pytest.approx((0.0005, 0.0005))
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_missing_slide_model_fails_before_reading_the_slide(tmp_path: Path, model_dir: Path) -> None:
    partial = tmp_path / "models"
    partial.mkdir()
    (partial / "segmenter.pt").write_bytes((model_dir / "segmenter.pt").read_bytes())
    unread = tmp_path / "unread.tiff"
    unread.write_bytes(b"not a slide: never opened, the models fail first")
    with pytest.raises(ConfigError, match=r"slide_model\.joblib: model file not found"):
        run_job(JobOptions(input=unread, output=tmp_path / "out", task=HELP, model_dir=partial), log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_the_warm_up_runs_every_loaded_network_at_its_tile_size(model_dir: Path) -> None:
    """What a job on a GPU warms up beside its tissue mask: each loaded network at its own tile shape."""
    models = Models([*ALL.outputs, *LABEL.outputs], model_dir, torch.device("cpu"))
    found = models.tile_models()
    kinds = [(type(model), shape) for model, shape in found]
    assert kinds[:3] == [(DetectionModel, (128, 128)), (ProbabilityModel, (64, 64)), (ProbabilityModel, (64, 64))]
    assert len(kinds) == 4 and kinds[3][0] is ClassifierModel
    warm = warm_up(found, torch.device("cpu"), batch_size=2, decode=False, force=True)
    warm.wait()
    assert warm.done  # the real networks ran (on the CPU here)
    assert Models(MIDOG.outputs, model_dir, torch.device("cpu")).tile_models()[0][1] == (128, 128)


def test_the_decoder_warms_up_before_the_models_load(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nvJPEG's set-up (about a second on an H100) starts as soon as the device is open, beside the models' loading;
    the networks' warm-up follows the models, without the decoder."""
    import algorithm.job as job

    events: list[tuple[str, ...]] = []

    def recording_warm_up(models, device, batch_size, decode=True, amp=True, force=False):
        events.append(("warm-up", str(len(models)), str(decode)))
        return warm_up(models, device, batch_size, decode, amp, force=True)  # on the CPU too, as on CUDA

    def recording_load(path, device):
        events.append(("load", Path(path).name))
        return load_detector(path, device)

    monkeypatch.setattr(job, "warm_up", recording_warm_up)
    monkeypatch.setattr(job, "load_detector", recording_load)
    slide = write_pyramid_tiff(tmp_path / "slide.tiff", blob_image(600, 400), mpp=0.5, tile=128)
    options = JobOptions(input=slide, output=tmp_path / "out", task=MIDOG, model_dir=model_dir, device_decode=True)
    run_job(options, log=lambda _: None)
    assert events == [("warm-up", "0", "True"), ("load", "detector.pt"), ("warm-up", "1", "False")]
    assert (tmp_path / "out" / "mitotic-figures.json").is_file()


@pytest.mark.parametrize("task", ["midog", "help", "nuclei", "label", "all"])
def test_model_files_are_exactly_what_a_task_loads(task: str, tmp_path: Path) -> None:
    tasks = load_tasks(task)
    names = model_files(tasks)
    for name in names:
        (tmp_path / name).symlink_to(BUNDLED_MODELS / name)
    outputs = {result for t in tasks for result in t.outputs}
    Models(outputs, tmp_path, torch.device("cpu"))  # loads from these files alone
    for name in names:  # and needs each of them
        (tmp_path / name).rename(tmp_path / "aside")
        with pytest.raises(ConfigError, match=name):
            Models(outputs, tmp_path, torch.device("cpu"))
        (tmp_path / "aside").rename(tmp_path / name)
