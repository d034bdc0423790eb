"""Truth files written beside a synthetic slide ``<name>.tiff``.

* ``<name>.midog.json``: MIDOG 2021 database format (the shape of MIDOG.json):
  ``info``, ``licenses``, ``images`` [{file_name, id, width, height, license}],
  ``categories`` [{id 1 "mitotic figure"}, {id 2 "not mitotic figure"}],
  ``annotations`` [{bbox [x1, y1, x2, y2], category_id, image_id, id}]; boxes
  are 12.5 um wide (50 px at 0.25 um/px) and centred on the cell (nearest pixel).
* ``<name>.tumour-mask.png`` / ``<name>.tissue-mask.png``: uint8 0/255 at a
  low resolution; pixel (r, c) covers level-0 ``[c*ds, (c+1)*ds) x [r*ds, (r+1)*ds)``.
* ``<name>.nuclei-mask.tiff`` (only when asked for): uint8 0/255 on the level-0
  grid, tiled as the slide, every nucleus drawn (see :mod:`training.synth.nuclei_mask`).
* ``<name>.truth.json``: everything else (see :func:`truth_document`);
  written last, so its presence means the slide is complete.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
from PIL import Image

from algorithm.features.axis import major_axis
from algorithm.io.atomic import write_bytes_atomic
from training.synth.specials import BOX_UM, IMPOSTER, MITOSIS, PHASES, Specials

TRUTH_FORMAT = "training.synth.truth/1"
CATEGORIES = [{"id": MITOSIS, "name": "mitotic figure"}, {"id": IMPOSTER, "name": "not mitotic figure"}]
LICENSES = [{"url": "https://creativecommons.org/publicdomain/zero/1.0/", "id": 1, "name": "CC0 1.0 (synthetic data)"}]


def box_size_px(mpp: float) -> float:
    """Side of a MIDOG box in level-0 pixels (50 px at 0.25 um/px)."""
    return BOX_UM / mpp


def midog_boxes(sp: Specials, mpp: float) -> list[tuple[list[float], int]]:
    """``([x1, y1, x2, y2], category)`` per special cell, in placement order."""
    half = box_size_px(mpp) / 2.0
    out = []
    for x, y, c in zip(sp.x, sp.y, sp.category, strict=True):
        # Centred on the cell to the nearest pixel: integer boxes at 0.25 um/px, as in MIDOG.
        cx, cy = round(float(x)), round(float(y))
        out.append(([_r(cx - half), _r(cy - half), _r(cx + half), _r(cy + half)], int(c)))
    return out


def _r(v: float) -> float | int:
    """Integers where exact (MIDOG uses integer pixels), else 2 decimals."""
    v = round(float(v), 2)
    return int(v) if v == int(v) else v


def midog_database(file_name: str, width: int, height: int, sp: Specials, mpp: float, image_id: int = 1) -> dict:
    """A one-image MIDOG 2021 database (COCO-style) of the slide's specials, as MIDOG's readers expect it."""
    annotations = [
        {"bbox": bbox, "category_id": cat, "image_id": image_id, "id": i + 1}
        for i, (bbox, cat) in enumerate(midog_boxes(sp, mpp))
    ]
    return {
        "info": {
            "description": "Synthetic H&E slides with mitotic figures (training.synth), MIDOG 2021 format",
            "version": "1.0",
            "year": 2026,
            "contributor": "training.synth",
            "date_created": "synthetic",
        },
        "licenses": LICENSES,
        "images": [{"license": 1, "file_name": file_name, "id": image_id, "width": width, "height": height}],
        "categories": CATEGORIES,
        "annotations": annotations,
    }


def tumour_axis(mask: np.ndarray, downsample: float, mpp: float) -> tuple[float, list[list[float]]]:
    """HeLP-style major axis of the largest tumour region: (length in um, two endpoints in level-0 px).

    ``skimage.measure.regionprops(...).axis_major_length`` on the low-resolution
    mask, scaled by its downsample and mpp; (0, []) when there is no tumour.
    """
    axis = major_axis(mask, largest="area")
    if axis.length_px == 0:
        return 0.0, []
    ends = axis.endpoints * downsample
    return axis.length_px * downsample * mpp, [[round(float(v), 2) for v in e] for e in ends]


def png_bytes(mask: np.ndarray) -> bytes:
    """``mask`` as an 8-bit PNG, 255 where true."""
    buf = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def write_mask(path: str | os.PathLike[str], mask: np.ndarray) -> None:
    """Write ``mask`` as a PNG atomically."""
    write_bytes_atomic(path, png_bytes(mask))


def special_list(sp: Specials, category: int) -> list[dict[str, Any]]:
    """The specials of ``category`` as truth-file entries (position, in tumour, mitotic phase)."""
    out = []
    for i in np.flatnonzero(sp.category == category):
        item: dict[str, Any] = {
            "x": round(float(sp.x[i]), 2),
            "y": round(float(sp.y[i]), 2),
            "in_tumour": bool(sp.in_tumour[i]),
        }
        if category == MITOSIS:
            item["phase"] = PHASES[int(sp.phase[i])]
        out.append(item)
    return out
