"""One algorithm job: the slide in, the task's outputs out.

find the input slide -> load the models the task needs -> tissue mask (once)
-> detection, the tumour assessment, the nuclei mask and/or the slide label -> write the outputs atomically.
Models load before the slide is read, so a missing model fails in a second;
any failure raises a KitError before anything is written.

A job run from the command line (grand-challenge's exec mode) opens the
device and loads its models itself; the invoke server (``serve.py``) does
that once as a :class:`Runtime` and hands it to every job.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from algorithm.classify import load_label_model, load_slide_model
from algorithm.detection.slide import DetectionOptions, SlideDetections, detection_model, slide_detections
from algorithm.device import describe, resolve_device
from algorithm.engine import ClassifierModel, EngineOptions, ProbabilityModel, TileModel
from algorithm.engine.warmup import WarmUp, warm_up
from algorithm.errors import ConfigError, KitError
from algorithm.interface.annotations import multiple_points
from algorithm.interface.inputs import JobInput, find_input
from algorithm.interface.outputs import check_writable, write_outputs
from algorithm.interface.tasks import Task
from algorithm.models import CLASS_NAMES, load_detector, load_nuclei_segmenter, load_patch_classifier, load_segmenter
from algorithm.nuclei import DEFAULT_THRESHOLD, NucleiSegmentation, segment_nuclei
from algorithm.segmentation import SegmentationOptions
from algorithm.slide import open_slide
from algorithm.slide.base import SlideReader
from algorithm.slide_label import LabelAssessment, LabelOptions, assess_label
from algorithm.startup import gather, startup_line
from algorithm.tissue import TissueMask, tissue_mask
from algorithm.tumour import TumourAssessment, assess_tumour

logger = logging.getLogger(__name__)  # the job's summary lines (INFO); the command line shows them

BUNDLED_MODELS = Path(__file__).resolve().parent.parent / "models"
DETECTOR_FILE = "detector.pt"
SEGMENTER_FILE = "segmenter.pt"
SLIDE_MODEL_FILE = "slide_model.joblib"
NUCLEI_FILE = "nuclei.pt"
PATCH_CLASSIFIER_FILE = "patch_classifier.pt"
LABEL_MODEL_FILE = "label_model.joblib"
SLIDE_RESULTS = ("tumour_probability", "tumour_major_axis_um", "tumour_major_axis_line")
LABEL_RESULTS = ("slide_likelihood", "slide_label")


@dataclass(frozen=True)
class JobOptions:
    """One job's inputs, outputs, task and settings (the command line's, or the invoke server's for every job)."""

    input: Path
    output: Path
    task: Task
    model_dir: Path | None = None  # None: /opt/ml/model if present, else the bundled models
    device: str = "auto"
    mpp: float | None = None
    batch_size: int | None = None  # None: chosen for the device (8 on the CPU, 256 on CUDA)
    workers: int | None = None  # tile readers; None: the CPUs this process may use
    device_decode: bool | None = None  # stored JPEG tiles decoded on the GPU; None: on CUDA (EngineOptions)
    jpeg_scaling: bool | None = None  # host: JPEG tiles shrunk while decoding; None: for detection (EngineOptions)
    threshold: float | None = None  # None: the checkpoint's validated threshold
    views: int | None = None  # the detector's test-time views; None: the checkpoint's
    nms_radius_um: float = 6.25


@dataclass
class JobResult:
    """What a job found and wrote: for the tests and the invoke server's answer."""

    detections: SlideDetections | None
    tumour: TumourAssessment | None
    written: list[Path]
    seconds: float
    # the slide as the job saw it: the cohort's QC pictures are drawn from these (no second inference)
    name: str = ""  # its name on the platform (inputs.json's image name, else the file name)
    slide: Path | None = None  # the file (or DICOM folder) read
    dimensions: tuple[int, int] = (0, 0)  # level-0 (width, height)
    mpp: tuple[float, float] = (0.0, 0.0)  # microns per level-0 pixel (x, y)
    mask: TissueMask | None = None  # the tissue mask the models ran over
    nuclei: NucleiSegmentation | None = None  # the nuclei task's mask, when it ran
    label: LabelAssessment | None = None  # the label task's patches and call, when it ran
    threshold: float | None = None  # the mitotic-figure threshold the points were called at, when detection ran


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


def open_device(requested: str) -> tuple[torch.device, str]:
    """The job's device, and the start-up line that says what torch, GPU and driver it found (startup.py)."""
    facts = gather()  # first: torch words a failed CUDA initialisation only once
    if requested == "auto":  # the line says why a visible GPU is not used (resolve_device would warn again)
        device = torch.device("cuda" if facts.cuda_available else "cpu")
    else:
        device = resolve_device(requested)
    facts.device = describe(device)
    return device, startup_line(facts)


class Needs(NamedTuple):
    """Which models some outputs need."""

    detector: bool
    segmenter: bool
    slide_model: bool
    nuclei: bool
    label: bool  # the patch classifier and the label model


def _needs(outputs: frozenset[str]) -> Needs:
    """Which models these outputs need."""
    return Needs(
        detector="mitotic_figures" in outputs,
        segmenter=bool(outputs & {"tumour_heatmap", *SLIDE_RESULTS}),
        slide_model=bool(outputs & set(SLIDE_RESULTS)),
        nuclei="nuclei_mask" in outputs,
        label=bool(outputs & set(LABEL_RESULTS)),
    )


# the files each of Needs' models is loaded from
_NEEDED_FILES = {
    "detector": (DETECTOR_FILE,),
    "segmenter": (SEGMENTER_FILE,),
    "slide_model": (SLIDE_MODEL_FILE,),
    "nuclei": (NUCLEI_FILE,),
    "label": (PATCH_CLASSIFIER_FILE, LABEL_MODEL_FILE),
}


def model_files(tasks: Iterable[Task]) -> tuple[str, ...]:
    """The model files a container running ``tasks`` loads (what ``./export.sh`` checks a model folder for)."""
    need = _needs(frozenset(result for task in tasks for result in task.outputs))
    return tuple(name for field, names in _NEEDED_FILES.items() if getattr(need, field) for name in names)


class Models:
    """The models that some outputs need, loaded (and checked) before any slide is read."""

    def __init__(self, outputs: Iterable[str], model_dir: Path | None, device: torch.device) -> None:
        self.outputs = frozenset(outputs)
        need = _needs(self.outputs)

        def located(name: str) -> Path:
            return locate_model(model_dir, name)

        self.detector = load_detector(located(DETECTOR_FILE), device) if need.detector else None
        self.segmenter = load_segmenter(located(SEGMENTER_FILE), device) if need.segmenter else None
        self.slide_model = load_slide_model(located(SLIDE_MODEL_FILE)) if need.slide_model else None
        self.nuclei = load_nuclei_segmenter(located(NUCLEI_FILE), device) if need.nuclei else None
        self.patch_classifier = load_patch_classifier(located(PATCH_CLASSIFIER_FILE), device) if need.label else None
        self.label_model = load_label_model(located(LABEL_MODEL_FILE)) if need.label else None

    def select(self, outputs: Iterable[str]) -> Models:
        """These models as a job of ``outputs`` alone would have loaded them (those it does not need: None)."""
        wanted = frozenset(outputs)
        missing = wanted - self.outputs
        if missing:  # the server loads the models of all its tasks: a bug if this happens
            raise KitError(f"no models loaded for {', '.join(sorted(missing))}")
        chosen = copy.copy(self)
        chosen.outputs = wanted
        need = _needs(wanted)
        chosen.detector = self.detector if need.detector else None
        chosen.segmenter = self.segmenter if need.segmenter else None
        chosen.slide_model = self.slide_model if need.slide_model else None
        chosen.nuclei = self.nuclei if need.nuclei else None
        chosen.patch_classifier = self.patch_classifier if need.label else None
        chosen.label_model = self.label_model if need.label else None
        return chosen

    def tile_models(self) -> list[tuple[TileModel, tuple[int, int]]]:
        """The loaded networks as the engine runs them, each with its tile's (h, w): what :func:`warm_up` runs."""
        found: list[tuple[TileModel, tuple[int, int]]] = []
        if self.detector is not None:
            found.append((detection_model(*self.detector[:2]), (self.detector[1].tile_size,) * 2))
        for loaded in (self.segmenter, self.nuclei):
            if loaded is not None:
                found.append((ProbabilityModel(loaded[0]), (loaded[1].tile_size,) * 2))
        if self.patch_classifier is not None:
            found.append((ClassifierModel(self.patch_classifier[0]), (self.patch_classifier[1].tile_size,) * 2))
        return found


class PhaseClock:
    """Seconds per phase of a job (opening the device, loading the models, each task...), for its summary line:
    where a job's time went beyond the tile engine's own split."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the block's wall time to ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def line(self) -> str:
        """'device 0.3 s, models 0.2 s, ...' in the order the phases ran."""
        return ", ".join(f"{name} {value:.1f} s" for name, value in self.seconds.items())


@dataclass(frozen=True)
class Runtime:
    """A device and the models of one or more tasks, made once and reused by every job given it."""

    device: torch.device
    models: Models
    line: str  # the start-up line

    @classmethod
    def load(
        cls,
        tasks: Sequence[Task],
        model_dir: Path | None,
        device: str = "auto",
        log: Callable[[str], None] = logger.info,
    ) -> Runtime:
        """Open the device (logging the start-up line), load the models all ``tasks`` need and warm the device up."""
        opened, line = open_device(device)
        log(line)
        outputs = {result for task in tasks for result in task.outputs}
        models = Models(outputs, model_dir, opened)
        _warm_up(models, EngineOptions(), opened).wait()  # before the first request, not during it
        return cls(opened, models, line)


def _engine(options: JobOptions) -> EngineOptions:
    return EngineOptions(
        batch_size=options.batch_size,
        workers=options.workers,
        device_decode=options.device_decode,
        jpeg_scaling=options.jpeg_scaling,
    )


def _warm_up(models: Models, engine: EngineOptions, device: torch.device, decode: bool = True) -> WarmUp:
    """The device warmed up for ``models`` at the engine's batch size, in a thread (nothing on the CPU);
    ``decode``: its JPEG decoder too, when the engine will decode there."""
    decoder = decode and engine.decode_on(device)
    return warm_up(models.tile_models(), device, engine.batch_for(device), decoder, engine.amp)


def _warm_decoder(engine: EngineOptions, device: torch.device) -> WarmUp:
    """The device's JPEG decoder set up in a thread, when the engine will decode there (nothing on the CPU)."""
    return warm_up([], device, engine.batch_for(device), engine.decode_on(device), engine.amp)


def _detect(
    slide: SlideReader, mask: TissueMask, models: Models, options: JobOptions, device: torch.device
) -> tuple[SlideDetections, dict[str, Any], float]:
    assert models.detector is not None, "detection without a detector: a bug, not a user error"
    model, config, checkpoint = models.detector
    config = config.with_views(options.views)
    threshold = options.threshold if options.threshold is not None else float(checkpoint.get("threshold", 0.5))
    detection = DetectionOptions(nms_radius_um=options.nms_radius_um, engine=_engine(options))
    found = slide_detections(slide, mask, model, config, checkpoint.get("stain"), device, detection)
    others = sorted(set(found.candidates.labels.tolist()) - set(CLASS_NAMES))
    if others:  # a participant's network with another label convention: say so rather than write nothing
        count = int(np.isin(found.candidates.labels, others).sum())
        logger.warning(
            "%s: %d calls of labels %s dropped: label 1 is a mitotic figure, 2 an imposter",
            slide.path.name,
            count,
            others,
        )
    mitoses = found.candidates.labels == 1
    points = multiple_points(found.points_mm()[mitoses], found.candidates.scores[mitoses], threshold)
    return found, {"mitotic_figures": points}, threshold


def _nuclei(
    slide: SlideReader, mask: TissueMask, models: Models, options: JobOptions, device: torch.device
) -> NucleiSegmentation:
    assert models.nuclei is not None, "nuclei without a nuclei model: a bug, not a user error"
    model, config, checkpoint = models.nuclei
    threshold = float(checkpoint.get("threshold", DEFAULT_THRESHOLD))  # --threshold is the detector's
    segmentation = SegmentationOptions(engine=_engine(options))
    return segment_nuclei(slide, mask, model, config, checkpoint.get("stain"), device, threshold, segmentation)


def _label(
    slide: SlideReader, mask: TissueMask, models: Models, options: JobOptions, device: torch.device
) -> LabelAssessment:
    assert models.patch_classifier is not None and models.label_model is not None, "label task without its models"
    model, config, checkpoint = models.patch_classifier
    label = LabelOptions(engine=_engine(options))
    return assess_label(slide, mask, model, config, checkpoint, models.label_model, device, label)


def run_job(
    options: JobOptions,
    log: Callable[[str], None] = logger.info,
    runtime: Runtime | None = None,
) -> JobResult:
    """Run one job. Without ``runtime`` it opens the device and loads the task's models itself."""
    started = time.perf_counter()
    clock = PhaseClock()
    warming: list[WarmUp] = []  # threads that set the device up beside the host's work (none on the CPU)
    try:
        if runtime is None:
            with clock.phase("device"):
                device, line = open_device(options.device)
            log(line)
            # nvJPEG's set-up (about a second on an H100) from now, beside loading the models, the tissue
            # mask and the stain fit: started with the networks' warm-up it held the engine's start back
            warming.append(_warm_decoder(_engine(options), device))
        else:
            device = runtime.device
        job_input = find_input(options.input, options.task)
        check_writable(options.output, options.task)  # in a second, not after the slide
        if runtime is None:
            with clock.phase("models"):
                models = Models(options.task.outputs, options.model_dir, device)
            warming.append(_warm_up(models, _engine(options), device, decode=False))
        else:
            models = runtime.models.select(options.task.outputs)  # warmed when the runtime was loaded
        return _run(options, log, started, job_input, models, device, clock)
    finally:
        for warm in warming:
            warm.wait()


def _run(
    options: JobOptions,
    log: Callable[[str], None],
    started: float,
    job_input: JobInput,
    models: Models,
    device: torch.device,
    clock: PhaseClock,
) -> JobResult:
    """The job's slide through its models, and its outputs written (``run_job`` after the models are loaded)."""
    results: dict[str, Any] = {}
    detections = tumour = None
    threshold: float | None = None
    nuclei: NucleiSegmentation | None = None
    label: LabelAssessment | None = None
    with open_slide(job_input.slide, default_mpp=options.mpp) as slide:
        with clock.phase("tissue mask"):
            mask = tissue_mask(slide)
        if models.detector is not None:
            with clock.phase("mitotic figures"):
                detections, found, threshold = _detect(slide, mask, models, options, device)
            results.update(found)
            log(f"{job_input.name}: {detections.summary(threshold)}")
        if models.segmenter is not None:
            segmenter, config, checkpoint = models.segmenter
            segmentation = SegmentationOptions(engine=_engine(options))
            with clock.phase("tumour"):
                tumour = assess_tumour(
                    slide, mask, segmenter, config, checkpoint.get("stain"), models.slide_model, device, segmentation
                )
            results.update(tumour.results(slide.mpp))
            log(f"{job_input.name}: {tumour.summary()}")
        if models.nuclei is not None:
            with clock.phase("nuclei"):
                nuclei = _nuclei(slide, mask, models, options, device)
            results.update(nuclei.results(slide.mpp))
            log(f"{job_input.name}: {nuclei.summary()}")
        if models.patch_classifier is not None:
            with clock.phase("slide label"):
                label = _label(slide, mask, models, options, device)
            results.update(label.results())
            log(f"{job_input.name}: {label.summary()}")
        mpp = slide.mpp
        dimensions = slide.dimensions
    with clock.phase("outputs"):
        written = write_outputs(options.output, options.task, results)
    seconds = time.perf_counter() - started
    files = f"{len(written)} output{'' if len(written) == 1 else 's'}"
    log(f"{job_input.name}: {files} written in {seconds:.1f} s (slide {mpp[0]:.3f} um/px; {clock.line()})")
    return JobResult(
        detections,
        tumour,
        written,
        seconds,
        job_input.name,
        job_input.slide,
        dimensions,
        mpp,
        mask,
        nuclei=nuclei,
        label=label,
        threshold=threshold,
    )
