"""One algorithm job: the slide in, the task's outputs out.

find the input slide -> load the models the task needs -> tissue mask (once)
-> detection and/or the tumour assessment -> write the outputs atomically.
Models load before the slide is read, so a missing model fails in a second;
any failure raises a KitError before anything is written.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision

from algorithm import __version__
from algorithm.classify import load_slide_model
from algorithm.detection.slide import DetectionOptions, SlideDetections, slide_detections
from algorithm.device import describe, resolve_device
from algorithm.engine import EngineOptions
from algorithm.errors import ConfigError
from algorithm.interface.inputs import find_input
from algorithm.interface.outputs import write_outputs
from algorithm.interface.tasks import Task
from algorithm.models import load_detector, load_segmenter
from algorithm.outputs.points import multiple_points
from algorithm.segmentation import SegmentationOptions
from algorithm.slide import open_slide
from algorithm.slide.base import SlideReader
from algorithm.tissue import TissueMask, tissue_mask
from algorithm.tumour import TumourAssessment, assess_tumour

BUNDLED_MODELS = Path(__file__).resolve().parent.parent / "models"
DETECTOR_FILE = "detector.pt"
SEGMENTER_FILE = "segmenter.pt"
SLIDE_MODEL_FILE = "slide_model.joblib"
SLIDE_RESULTS = ("tumour_probability", "tumour_major_axis_um", "tumour_major_axis_line")


@dataclass(frozen=True)
class JobOptions:
    input: Path
    output: Path
    task: Task
    model_dir: Path | None = None  # None: /opt/ml/model if present, else the bundled models
    device: str = "auto"
    mpp: float | None = None
    batch_size: int | None = None  # None: chosen for the device (8 on the CPU, 64 on CUDA)
    workers: int | None = None  # tile readers; None: the CPUs this process may use
    threshold: float | None = None  # None: the checkpoint's validated threshold
    nms_radius_um: float = 6.25


@dataclass
class JobResult:
    detections: SlideDetections | None
    tumour: TumourAssessment | None
    written: list[Path]
    seconds: float


def locate_model(model_dir: Path | None, name: str) -> Path:
    """``model_dir/name``; without a model dir, /opt/ml/model (grand-challenge's) then the bundled one."""
    if model_dir is not None:
        if not model_dir.is_dir():
            raise ConfigError(f"{model_dir}: model folder not found")
        path = model_dir / name
        if not path.is_file():
            raise ConfigError(f"{path}: model file not found in the model folder")
        return path
    for folder in (Path("/opt/ml/model"), BUNDLED_MODELS):
        if (folder / name).is_file():
            return folder / name
    raise ConfigError(f"no {name} in /opt/ml/model or {BUNDLED_MODELS}; give --model-dir")


def startup_line(device: torch.device) -> str:
    return (f"algorithm {__version__}: torch {torch.__version__}, torchvision {torchvision.__version__}, "
            f"device {describe(device)}, CUDA {'found' if torch.cuda.is_available() else 'not found'}")


class Models:
    """The models a task needs, loaded (and checked) before any slide is read."""

    def __init__(self, task: Task, options: JobOptions, device: torch.device) -> None:
        wanted = set(task.outputs)
        self.detector = self.segmenter = self.slide_model = None
        if "mitotic_figures" in wanted:
            self.detector = load_detector(locate_model(options.model_dir, DETECTOR_FILE), device)
        if wanted & {"tumour_heatmap", *SLIDE_RESULTS}:
            self.segmenter = load_segmenter(locate_model(options.model_dir, SEGMENTER_FILE), device)
        if wanted & set(SLIDE_RESULTS):
            self.slide_model = load_slide_model(locate_model(options.model_dir, SLIDE_MODEL_FILE))


def _engine(options: JobOptions) -> EngineOptions:
    return EngineOptions(batch_size=options.batch_size, workers=options.workers)


def _detect(slide: SlideReader, mask: TissueMask, models: Models, options: JobOptions,
            device: torch.device) -> tuple[SlideDetections, dict[str, Any], float]:
    model, config, checkpoint = models.detector
    threshold = options.threshold if options.threshold is not None else float(checkpoint.get("threshold", 0.5))
    detection = DetectionOptions(nms_radius_um=options.nms_radius_um, engine=_engine(options))
    found = slide_detections(slide, mask, model, config, checkpoint.get("stain"), device, detection)
    mitoses = found.candidates.labels == 1
    points = multiple_points(found.points_mm()[mitoses], found.candidates.scores[mitoses], threshold)
    return found, {"mitotic_figures": points}, threshold


def run_job(options: JobOptions, log=lambda msg: print(msg, file=sys.stderr)) -> JobResult:
    started = time.perf_counter()
    device = resolve_device(options.device)
    log(startup_line(device))
    job_input = find_input(options.input, options.task)
    models = Models(options.task, options, device)
    results: dict[str, Any] = {}
    detections = tumour = None
    with open_slide(job_input.slide, mpp=options.mpp) as slide:
        mask = tissue_mask(slide)
        if models.detector is not None:
            detections, found, threshold = _detect(slide, mask, models, options, device)
            results.update(found)
            log(f"{job_input.name}: {detections.summary(threshold)}")
        if models.segmenter is not None:
            segmenter, config, checkpoint = models.segmenter
            segmentation = SegmentationOptions(engine=_engine(options))
            tumour = assess_tumour(slide, mask, segmenter, config, checkpoint.get("stain"), models.slide_model,
                                   device, segmentation)
            results.update(tumour.results(slide.mpp))
            log(f"{job_input.name}: {tumour.summary()}")
        mpp = slide.mpp
    written = write_outputs(options.output, options.task, results)
    seconds = time.perf_counter() - started
    files = f"{len(written)} output{'' if len(written) == 1 else 's'}"
    log(f"{job_input.name}: {files} written in {seconds:.1f} s (slide {mpp[0]:.3f} um/px)")
    return JobResult(detections, tumour, written, seconds)
