"""Pictures (PNG, JPEG ...) opened as the container opens a slide: a lossless tiled TIFF copy with a resolution.

Training reads real images through the kit's own slide reader, so that they reach a model as a job's input
does (the same reader, per-image stain fit and resampling): the nuclei pairs (``training.nuclei.data``) and
the detector's real negatives (``real_negatives``). A picture carries no trustworthy resolution, so it is
written once, at the resolution given, into a work folder; a TIFF is opened as it is.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from algorithm.errors import ConfigError
from algorithm.io.readable import readable_file
from algorithm.slide import open_slide
from algorithm.slide.base import SlideReader
from training.synth.pyramid import write_image


def as_tiff(image: Path, mpp: float, work: Path) -> Path:
    """An image (PNG, JPEG, TIFF...) as a TIFF the kit's readers open: itself if it is one, else a lossless
    tiled copy at ``mpp`` in ``work`` (named by the source's content, so a changed image is converted again)."""
    if image.suffix.lower() in (".tif", ".tiff"):
        return image
    readable_file(image)
    try:
        with Image.open(image) as opened:
            pixels = np.asarray(opened.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{image}: cannot read the image ({exc})") from exc
    digest = hashlib.sha256(image.read_bytes()).hexdigest()[:12]
    path = work / f"{image.stem[:100]}.{digest}.{mpp:g}um.tiff"  # a long name cut: the digest tells them apart
    if not path.exists():
        work.mkdir(parents=True, exist_ok=True)
        write_image(path, pixels, mpp)
    return path


def open_image(image: Path, image_mpp: float, work: Path) -> SlideReader:
    """An image opened with the container's reader (its TIFF copy at ``image_mpp`` if converted)."""
    path = as_tiff(image, image_mpp, work)
    return open_slide(path, mpp=None if path == image else image_mpp)
