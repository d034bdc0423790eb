"""The label task's patches on a QC picture: one wash per picture pixel, and a frame per patch.

The patch grid's last row and column sit flush with the slide's edge, so patches overlap. Washing
each patch over the last would stack their translucent colours into one that is not on the scale;
instead each picture pixel is washed once, in the colour of the most probable analysed patch over
it (:func:`patch_owners`), and every patch is framed in its exact colour, least probable first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from PIL import ImageDraw

from algorithm.qc import colours

if TYPE_CHECKING:
    from algorithm.qc.layers import PatchLayer

PATCH_OUTLINE_MIN_PX = 6  # patches smaller than this on the picture are filled opaque, without a frame
PATCH_FRAME_PX = 2


def boxes_on_picture(boxes: NDArray[np.float64], scale: tuple[float, float]) -> NDArray[np.int64]:
    """Level-0 ``(x, y, w, h)`` boxes as picture pixel ranges ``(x0, y0, x1, y1)``, ends exclusive, at least
    one pixel: edges rounded, so boxes that share an edge share it on the picture too (no gap, no overlap)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0 = np.round(b[:, 0] * scale[0]), np.round(b[:, 1] * scale[1])
    x1 = np.maximum(np.round((b[:, 0] + b[:, 2]) * scale[0]), x0 + 1)
    y1 = np.maximum(np.round((b[:, 1] + b[:, 3]) * scale[1]), y0 + 1)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.int64)


def _small(box: NDArray[np.int64]) -> bool:
    x0, y0, x1, y1 = (int(v) for v in box)
    return min(x1 - x0, y1 - y0) < PATCH_OUTLINE_MIN_PX


def _rising(probabilities: NDArray[np.float64]) -> list[int]:
    """The analysed patches' indices, least probable first (ties in their order)."""
    return [int(i) for i in np.argsort(np.asarray(probabilities, dtype=np.float64), kind="stable")]


def patch_owners(layer: PatchLayer, size: tuple[int, int], scale: tuple[float, float]) -> NDArray[np.int64]:
    """For each pixel of a ``size`` (w, h) picture, the patch whose colour it shows: ``i`` for analysed patch
    ``i`` (the most probable over it), ``n + j`` for dropped patch ``j`` where no analysed one is, -1 for none."""
    kept, dropped = boxes_on_picture(layer.boxes, scale), boxes_on_picture(layer.dropped, scale)
    boxes = np.vstack([kept, dropped])
    owners = np.full((size[1], size[0]), -1, dtype=np.int64)
    for index in [len(kept) + j for j in range(len(dropped))] + _rising(layer.probabilities):
        x0, y0, x1, y1 = (max(0, int(v)) for v in boxes[index])
        owners[y0:y1, x0:x1] = index
    return owners


def wash_patches(rgb: NDArray[np.float64], layer: PatchLayer, scale: tuple[float, float]) -> None:
    """Wash each pixel of ``rgb`` (in place) once, in its owner's colour (:func:`patch_owners`): analysed
    patches at :data:`~algorithm.qc.colours.PATCH_ALPHA` (opaque where too small for a frame), dropped ones
    grey at :data:`~algorithm.qc.colours.DROPPED_ALPHA`."""
    h, w = rgb.shape[:2]
    owners = patch_owners(layer, (w, h), scale)
    kept = boxes_on_picture(layer.boxes, scale)
    grey = np.tile(np.asarray(colours.DROPPED_PATCH, dtype=np.float64), (len(layer.dropped), 1))
    table = np.vstack([colours.patch_colours(layer.probabilities).astype(np.float64), grey])
    alphas = [1.0 if _small(box) else colours.PATCH_ALPHA for box in kept]
    alpha = np.array(alphas + [colours.DROPPED_ALPHA] * len(layer.dropped), dtype=np.float64)
    inside = owners >= 0
    owner = owners[inside]
    a = alpha[owner][:, None]
    rgb[inside] = rgb[inside] * (1.0 - a) + table[owner] * a


def frame_patches(draw: ImageDraw.ImageDraw, layer: PatchLayer, scale: tuple[float, float]) -> None:
    """Frame the dropped patches (grey, 1 px), then the analysed ones in their exact colours
    (:data:`PATCH_FRAME_PX`), least probable first; patches too small for a frame have none."""
    for box in boxes_on_picture(layer.dropped, scale):
        if not _small(box):
            x0, y0, x1, y1 = (int(v) for v in box)
            draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colours.DROPPED_PATCH)
    kept = boxes_on_picture(layer.boxes, scale)
    tints = colours.patch_colours(layer.probabilities)
    for i in _rising(layer.probabilities):
        if not _small(kept[i]):
            x0, y0, x1, y1 = (int(v) for v in kept[i])
            colour = (int(tints[i][0]), int(tints[i][1]), int(tints[i][2]))
            draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=PATCH_FRAME_PX)
