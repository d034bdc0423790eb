"""Heatmap files.

* TIFF (``.tif``/``.tiff``), the kit's own: page 0 the float32 probabilities,
  page 1 the tissue mask (uint8 0/255), resolution tags in pixels per
  centimetre and the downsample in the description. Lossless, so features
  computed from a file equal those computed in memory.
* MHA, for grand-challenge's viewer ("Heat Map" outputs): float32
  probabilities with spacing and origin in millimetres, so the heatmap lies on
  the slide; and ("Segmentation" outputs) uint8 masks on a grid of the slide
  the same way. SimpleITK, which writes it, is imported only then: a job
  without an image output runs without it installed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from numpy.typing import NDArray

from algorithm.errors import KitError
from algorithm.io.atomic import atomic_path
from algorithm.io.readable import readable_file
from algorithm.segmentation.heatmap import Heatmap

FORMAT = "kit.heatmap/1"


def write_heatmap_tiff(path: str | os.PathLike[str], heatmap: Heatmap) -> None:
    """Write ``heatmap`` losslessly as the kit's two-page TIFF (whole or not at all), for training's features."""
    resolution = (1e4 / heatmap.mpp, 1e4 / heatmap.mpp)
    description = json.dumps({"format": FORMAT, "downsample": heatmap.downsample, "mpp": heatmap.mpp})
    with atomic_path(path, suffix=".part.tiff") as tmp, tifffile.TiffWriter(tmp) as tif:
        tif.write(
            heatmap.probability.astype(np.float32),
            compression="zlib",
            resolution=resolution,
            resolutionunit="CENTIMETER",
            description=description,
            metadata=None,
        )
        tif.write(np.where(heatmap.tissue, 255, 0).astype(np.uint8), compression="zlib", metadata=None)


def read_heatmap_tiff(path: str | os.PathLike[str]) -> Heatmap:
    """A heatmap written by :func:`write_heatmap_tiff`; KitError for a missing file or any other TIFF."""
    path = readable_file(path)
    try:
        with tifffile.TiffFile(path) as tif:
            meta = json.loads(tif.pages.first.description)
            probability = tif.pages[0].asarray()
            tissue = tif.pages[1].asarray() > 0
    except FileNotFoundError as exc:
        raise KitError(f"{path}: heatmap file not found") from exc
    except (OSError, ValueError, IndexError, tifffile.TiffFileError) as exc:
        raise KitError(f"{path}: not a heatmap TIFF of this kit ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise KitError(f"{path}: not a heatmap TIFF of this kit (no {FORMAT} description)")
    if probability.ndim != 2 or probability.shape != tissue.shape:
        raise KitError(f"{path}: heatmap and tissue pages differ in shape")
    return Heatmap(probability.astype(np.float32), tissue, float(meta["downsample"]), float(meta["mpp"]))


def heatmap_mha_bytes(heatmap: Heatmap, slide_mpp: tuple[float, float]) -> bytes:
    """The heatmap as a compressed MHA file's bytes (spacing and origin in mm, on the slide's frame)."""
    return mha_bytes(heatmap.probability.astype(np.float32), heatmap.downsample, slide_mpp)


def mask_mha_bytes(mask: NDArray[np.uint8], downsample: float, slide_mpp: tuple[float, float]) -> bytes:
    """A uint8 label mask (0/1) as a compressed MHA file's bytes, ``downsample`` level-0 pixels per pixel
    (grand-challenge's "Segmentation" outputs: integer pixels, on the slide's frame like a heatmap)."""
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise KitError(f"a mask image must be 2-D uint8, got {mask.ndim}-D {mask.dtype}")
    return mha_bytes(mask, downsample, slide_mpp)


def mha_bytes(array: NDArray[Any], downsample: float, slide_mpp: tuple[float, float]) -> bytes:
    """A 2-D image on a grid of ``downsample`` level-0 pixels per pixel as a compressed MHA file's bytes.

    Spacing ``downsample * mpp`` and origin in millimetres, so the image lies on the slide in a viewer:
    a pixel's centre lies ``(downsample - 1) / 2`` level-0 pixels past the level-0 pixel centre at 0.
    """
    import SimpleITK as sitk  # here, not at the top: only the tasks with image outputs write MHA

    image = sitk.GetImageFromArray(array)
    image.SetSpacing([downsample * m / 1000.0 for m in slide_mpp])
    image.SetOrigin([(downsample - 1) / 2 * m / 1000.0 for m in slide_mpp])
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "image.mha"
        sitk.WriteImage(image, str(target), useCompression=True)
        return target.read_bytes()
