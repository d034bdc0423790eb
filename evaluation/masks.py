"""Segmentation masks: reading with pixel spacing, foreground, nearest-neighbour resampling.

Masks are read with SimpleITK (``.mha``, ``.mhd``, ``.nrrd``, ``.nii[.gz]``,
``.tif``/``.tiff`` with resolution tags converted to millimetres, ``.png``).
ITK reports a spacing of exactly 1 when a file carries none; that is treated
as *unknown* (no pathology mask has 1 mm pixels).

The prediction is resampled onto the truth's pixel grid by nearest neighbour:
truth pixel ``i`` (centre at ``(i + 0.5) * truth_spacing`` from the image's
top-left corner) takes prediction pixel ``floor((i + 0.5) * truth_spacing /
prediction_spacing)``; outside the prediction is background. Both masks are
assumed to share their top-left corner (origins are ignored). When either
spacing is unknown the two masks are assumed to cover the same extent and the
scale is the ratio of their sizes (identity for equal sizes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from evaluation.errors import EvaluationError


@dataclass(frozen=True)
class Mask:
    """A mask as read from its file: the pixels, and the pixel spacing needed to compare it with the truth."""

    array: np.ndarray  # (height, width)
    spacing_mm: tuple[float, float] | None  # (x, y); None when the file has none


def read_mask(path: Path, label: str) -> Mask:
    """A single-channel 2-D mask (a 3-D one with a single slice is accepted)."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise EvaluationError(f"{label}: cannot read the image: {first}") from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise EvaluationError(
            f"{label}: a mask must have one channel, this image has {image.GetNumberOfComponentsPerPixel()}"
        )
    size = image.GetSize()
    if image.GetDimension() == 3 and size[2] == 1:
        image = image[:, :, 0]
    elif image.GetDimension() != 2:
        raise EvaluationError(f"{label}: a mask must be 2-D, this image has size {list(size)}")
    spacing = tuple(float(s) for s in image.GetSpacing())
    array = sitk.GetArrayFromImage(image)
    known = not all(s == 1.0 for s in spacing) and all(s > 0 for s in spacing)
    return Mask(array=array, spacing_mm=(spacing[0], spacing[1]) if known else None)


def foreground(array: np.ndarray, label: str, threshold: float = 0.5) -> np.ndarray:
    """Boolean foreground: non-zero for integer masks, ``>= threshold`` for float masks."""
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise EvaluationError(f"{label}: the mask contains NaN or infinite values")
        return array >= threshold
    if array.dtype.kind in "biu":
        return array != 0
    raise EvaluationError(f"{label}: unsupported mask pixel type {array.dtype}")


def _indices(n_truth: int, scale: float, n_pred: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.floor((np.arange(n_truth) + 0.5) * scale).astype(np.int64)
    inside = (idx >= 0) & (idx < n_pred)
    return np.where(inside, idx, 0), inside


def resample_to(
    prediction: np.ndarray,
    prediction_spacing: tuple[float, float] | None,
    truth_shape: tuple[int, int],
    truth_spacing: tuple[float, float] | None,
) -> np.ndarray:
    """``prediction`` (boolean) on the truth's pixel grid, nearest neighbour."""
    ph, pw = prediction.shape
    th, tw = truth_shape
    if prediction_spacing is not None and truth_spacing is not None:
        sx, sy = truth_spacing[0] / prediction_spacing[0], truth_spacing[1] / prediction_spacing[1]
    else:
        sx, sy = pw / tw, ph / th
    if (ph, pw) == (th, tw) and sx == 1.0 and sy == 1.0:
        return prediction
    cols, col_in = _indices(tw, sx, pw)
    rows, row_in = _indices(th, sy, ph)
    out = prediction[np.ix_(rows, cols)]
    out &= row_in[:, None] & col_in[None, :]
    return out
