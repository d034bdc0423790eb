"""Real mitotic figures among real neighbours: each crop blended into a real field, as a slide would hold it.

``detector-score --crops`` runs each 32 um crop alone, on glass, the way a job
would run an image that small. ``--in-field IMAGE`` instead blends each crop's
centre, as stored, into the middle of a real H&E image (a soft-edged disc of
``FIELD_DISC_UM``) and runs the job's detection over the whole field: its
tissue mask and its stain fit, as on a slide. Found as ``--crops`` finds: a
mitotic-figure call at the threshold within the radius of the middle. The
field should hold no figure of its own near its middle (MoNuSeg's do not carry
mitosis labels: look at the picture, ``--gallery``).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from algorithm.detection.slide import slide_detections
from algorithm.errors import ConfigError
from algorithm.slide import open_slide, units
from algorithm.tissue import tissue_mask
from training.datasets.real_negatives import open_real_image
from training.detector.crops import (
    CROPS_MPP,
    CropResult,
    Detector,
    match_centre,
    read_crop_stack,
    stack_pages,
    write_crop,
)
from training.detector.real_figures import FEATHER_UM, blend_disc
from training.detector.validate import MIDOG_RADIUS_UM

FIELD_DISC_UM = 12.0  # the radius of a crop's disc in the field (training draws 10-15 um)
MAX_FIELD_PX = 4096 * 4096  # a field is read whole and written again per crop: an image, not a slide


def field_side(crop: NDArray[np.uint8], crop_mpp: float, field_mpp: float) -> int:
    """The side of ``crop``'s square in the field's pixels."""
    return max(1, int(round(min(crop.shape[:2]) * crop_mpp / field_mpp)))


def in_field(crop: NDArray[np.uint8], field: NDArray[np.uint8], crop_mpp: float, field_mpp: float) -> NDArray[np.uint8]:
    """``field`` with ``crop``'s centre (resized to the field's resolution) blended in at the field's middle as a
    soft-edged disc of ``FIELD_DISC_UM``."""
    side = min(crop.shape[:2])
    size = field_side(crop, crop_mpp, field_mpp)
    piece = crop[:side, :side]
    if size != side:
        piece = np.asarray(Image.fromarray(piece).resize((size, size), Image.Resampling.LANCZOS))
    radius, feather = FIELD_DISC_UM / field_mpp, FEATHER_UM / field_mpp
    middle = ((field.shape[1] - 1) / 2, (field.shape[0] - 1) / 2)
    return blend_disc(field, piece, middle, min(radius, size / 2 - feather), feather)


def score_crops_in_field(
    path: Path,
    detector: Detector,
    field: Path,
    field_mpp: float,
    mpp: float = CROPS_MPP,
    radius_um: float = MIDOG_RADIUS_UM,
    pages: Sequence[int] | None = None,
) -> tuple[list[CropResult], list[NDArray[np.uint8]], float]:
    """Every page of the stack (or the 1-based ``pages``) at ``mpp`` blended into the real image ``field`` (PNG/JPEG
    at ``field_mpp``, or a TIFF with its own resolution) and detected there; also the middle of each field, the
    crop's size, for a picture (each ``best_point`` in those pixels), and the field's microns per pixel."""
    crops = read_crop_stack(path)
    chosen = stack_pages(path, len(crops), pages)
    results: list[CropResult] = []
    middles: list[NDArray[np.uint8]] = []
    with tempfile.TemporaryDirectory(prefix="in-field-") as work:
        with open_real_image(field, field_mpp, Path(work)) as slide:
            width, height = slide.dimensions
            if width * height > MAX_FIELD_PX:
                raise ConfigError(
                    f"{field}: {width} x {height} px is too large for a field, which is read whole: give an image "
                    f"of at most {MAX_FIELD_PX // 4096} x 4096 px (e.g. a region cut from a slide)"
                )
            pixels = slide.read_region((0, 0), 0, slide.dimensions)
            field_mpp = float(slide.mpp[0])
        for k in chosen:
            composite = in_field(crops[k - 1], pixels, mpp, field_mpp)
            tiff = write_crop(composite, field_mpp, Path(work) / f"field-{k:03d}.tiff")
            with open_slide(tiff) as slide:
                mask = tissue_mask(slide)
                found = slide_detections(slide, mask, detector.model, detector.config, detector.stain, detector.device)
                radius_px = units.um_to_pixels(radius_um, slide.mpp)
            h, w = composite.shape[:2]
            result = match_centre(found.candidates, k, (w, h), radius_px, detector.threshold)
            half = field_side(crops[k - 1], mpp, field_mpp) // 2
            x0, y0 = max(0, w // 2 - half), max(0, h // 2 - half)
            if result.best_point is not None:  # in the middle's own pixels, as the picture draws it
                best_x, best_y = result.best_point
                result = dataclasses.replace(result, best_point=(best_x - x0, best_y - y0))
            results.append(result)
            middles.append(composite[y0 : h // 2 + half, x0 : w // 2 + half])
    return results, middles, field_mpp
