"""The engine tests' shared parts: a tile model that echoes its input, a slide with a broken tile, and the
bundled detector over a slide as a job runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
import torch

from algorithm.detection.slide import DetectionOptions, SlideDetections, detect_slide, detection_grid
from algorithm.engine import EngineOptions
from algorithm.models import load_detector
from algorithm.slide import open_slide
from algorithm.stain.slide_fit import slide_normaliser
from algorithm.tissue import tissue_mask
from tests.conftest import REPO, blob_image, write_pyramid_tiff


class Echo:
    """A tile model whose host output is its input batch, as uint8 NHWC."""

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        return tiles

    def postprocess(self, raw: torch.Tensor) -> torch.Tensor:
        return raw

    def to_host(self, output: torch.Tensor) -> np.ndarray:
        return (output * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def slide_with_a_broken_tile(folder: Path) -> Path:
    """``folder/broken.tiff``, 1024 x 1024 px in 64 px JPEG tiles, one in the middle with its header wrecked."""
    path = write_pyramid_tiff(
        folder / "broken.tiff", blob_image(1024, 1024, seed=2), mpp=0.5, tile=64, compression="jpeg"
    )
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages.first.dataoffsets[len(tif.pages.first.dataoffsets) // 2]
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\x00" * 64)
    return path


def detections(path: Path, engine: EngineOptions) -> SlideDetections:
    """The bundled detector over ``path``'s tissue on the CPU as a job runs it (its grid, the slide's fitted
    stain normaliser), through an engine with ``engine``'s options."""
    model, config, checkpoint = load_detector(REPO / "models" / "detector.pt")
    options = DetectionOptions(engine=engine)
    with open_slide(path) as slide:
        mask = tissue_mask(slide)
        grid = detection_grid(slide, config, options, mask)
        stain = slide_normaliser(checkpoint["stain"], slide, mask, grid.level, pixels=grid.pixels)
        return detect_slide(slide, model, config, options, "cpu", stain, grid)
