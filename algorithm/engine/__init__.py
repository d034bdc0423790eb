"""The tile engine: any tile model over a slide's tissue, with the device kept busy.

``TileRun(slide, grid, model, device, stain, options)`` reads the grid's tiles
in parallel (each stored tile of the file decoded once), normalises them,
batches them into the model and yields each batch's results in grid order;
``run.stats`` says where the time went. Detection (``algorithm.detection``),
segmentation (``algorithm.segmentation``) and a participant's own model all
run through it.
"""

from algorithm.engine.model_files import load_exported, load_torchscript
from algorithm.engine.models import (
    ClassifierModel,
    DetectionModel,
    HostDetections,
    ProbabilityModel,
    TileModel,
)
from algorithm.engine.retinanet import BatchedRetinaNet, TileDetections
from algorithm.engine.run import BatchResult, EngineOptions, TileRun, TileTransform
from algorithm.engine.stats import EngineStats

__all__ = [
    "TileRun",
    "EngineOptions",
    "EngineStats",
    "BatchResult",
    "TileTransform",
    "TileModel",
    "DetectionModel",
    "ClassifierModel",
    "ProbabilityModel",
    "HostDetections",
    "TileDetections",
    "BatchedRetinaNet",
    "load_torchscript",
    "load_exported",
]
