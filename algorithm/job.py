"""One algorithm job: the slide in, the task's outputs out.

find the input slide -> load the models -> tissue mask -> fit stain
normalisation to this slide -> detect over tissue tiles -> write the outputs
atomically. Any failure raises a KitError before anything is written.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

from algorithm import __version__
from algorithm.detection.slide import DetectionOptions, SlideDetections, detect_slide, detection_grid
from algorithm.device import describe, resolve_device
from algorithm.errors import ConfigError
from algorithm.interface.inputs import find_input
from algorithm.interface.outputs import write_outputs
from algorithm.interface.tasks import Task
from algorithm.models import load_detector
from algorithm.outputs.points import multiple_points
from algorithm.normalise import slide_normaliser
from algorithm.slide import open_slide
from algorithm.tissue import tissue_mask

BUNDLED_MODELS = Path(__file__).resolve().parent.parent / "models"
DETECTOR_FILE = "detector.pt"


@dataclass(frozen=True)
class JobOptions:
    input: Path
    output: Path
    task: Task
    model_dir: Path | None = None  # None: /opt/ml/model if present, else the bundled models
    device: str = "auto"
    mpp: float | None = None
    batch_size: int = 8
    threshold: float | None = None  # None: the checkpoint's validated threshold
    nms_radius_um: float = 6.25


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


def run_job(options: JobOptions, log=lambda msg: print(msg, file=sys.stderr)) -> SlideDetections:
    started = time.perf_counter()
    device = resolve_device(options.device)
    log(startup_line(device))
    job_input = find_input(options.input, options.task)
    detector_path = locate_model(options.model_dir, DETECTOR_FILE)
    model, config, checkpoint = load_detector(detector_path, device)
    threshold = options.threshold if options.threshold is not None else float(checkpoint.get("threshold", 0.5))
    detection = DetectionOptions(batch_size=options.batch_size, nms_radius_um=options.nms_radius_um,
                                 amp=device.type == "cuda")
    with open_slide(job_input.slide, mpp=options.mpp) as slide:
        mask = tissue_mask(slide)
        grid = detection_grid(slide, config, detection, mask)
        transform = slide_normaliser(checkpoint.get("stain"), slide, mask, grid.level) if len(grid) else None
        found = detect_slide(slide, model, config, detection, device, transform, grid)
    mitoses = found.candidates.labels == 1
    results = {
        "mitotic_figures": multiple_points(found.points_mm()[mitoses], found.candidates.scores[mitoses], threshold),
    }
    write_outputs(options.output, options.task, results)
    found.seconds = time.perf_counter() - started
    log(f"{job_input.name}: {found.summary(threshold)}")
    return found
