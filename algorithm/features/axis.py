"""The major axis of a tumour region, as HeLP 2019 measured it.

``skimage.measure.regionprops``' ``axis_major_length`` (the major axis of the
ellipse with the region's second moments) of a connected component
(8-connectivity), with its two endpoints so it can be drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from skimage.measure import label, regionprops


@dataclass(frozen=True)
class MajorAxis:
    """A region's major axis: its length and the two endpoints of the line to draw."""

    length_px: float  # in the mask's pixels
    endpoints: NDArray[np.float64]  # (2, 2): (x, y) of both ends, mask pixel coordinates (centres at .5)

    @classmethod
    def none(cls) -> MajorAxis:
        """No region: length 0, both endpoints at the origin."""
        return cls(0.0, np.zeros((2, 2)))


def major_axis(mask: NDArray[np.bool_], largest: Literal["axis", "area"] = "axis") -> MajorAxis:
    """The major axis of ``mask``'s connected component with the longest axis (or the largest area)."""
    labels = label(np.asarray(mask, dtype=bool), connectivity=2)
    if labels.max() == 0:
        return MajorAxis.none()
    regions = regionprops(labels)
    key = (lambda r: r.axis_major_length) if largest == "axis" else (lambda r: r.area)
    region = max(regions, key=key)
    length = float(region.axis_major_length)
    r0, c0 = region.centroid
    o = region.orientation  # angle between the row axis and the major axis
    dr, dc = math.cos(o) * length / 2.0, math.sin(o) * length / 2.0
    ends = np.array([[c0 - dc + 0.5, r0 - dr + 0.5], [c0 + dc + 0.5, r0 + dr + 0.5]])
    return MajorAxis(length, ends)


def rescaled(axis: MajorAxis, length_px: float) -> MajorAxis:
    """The same line about its midpoint, ``length_px`` long (a predicted length drawn where it was measured)."""
    if axis.length_px <= 0:
        return MajorAxis(0.0, axis.endpoints.copy())
    middle = axis.endpoints.mean(axis=0)
    half = (axis.endpoints[1] - axis.endpoints[0]) / 2 * (length_px / axis.length_px)
    return MajorAxis(float(length_px), np.stack([middle - half, middle + half]))
