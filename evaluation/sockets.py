"""The sockets the kit's algorithm writes and its evaluation reads, with the unit of every length.

A length's unit is part of its socket's definition, not of either side's configuration: the
algorithm writes ``tumour-major-axis`` in micrometres because this file says so, and the
evaluation reads it in micrometres for the same reason, so no default on one side can
disagree with the other.

One file in two packages. Each container ships only its own package, so
``algorithm/interface/sockets.py`` is the original and ``evaluation/sockets.py`` a byte-identical
copy; ``tests/evaluation/test_sockets.py`` fails when they differ. After an edit here::

    cp algorithm/interface/sockets.py evaluation/sockets.py

Hence the rules for this file: standard library only, no imports from either package, and
errors raised as ``ValueError`` for each side to turn into its own error type.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# Millimetres per unit. grand-challenge's annotations (points, lines) are in millimetres.
MILLIMETRES_PER_UNIT = {"mm": 1.0, "um": 1e-3}


@dataclass(frozen=True)
class Socket:
    """A grand-challenge socket (a "component interface") as a task maps a result to it.

    ``kind`` is grand-challenge's (``Float``, ``Multiple points``, ``Image``...); the algorithm
    writes the value to ``relative_path`` under its output folder. ``unit`` is the length unit of
    the numbers the socket holds (a Float's value, the coordinates of points and lines): one of
    :data:`MILLIMETRES_PER_UNIT`, or None where they are not lengths.
    """

    slug: str
    relative_path: str
    kind: str
    unit: str | None = None

    def __post_init__(self) -> None:
        for name in ("slug", "relative_path", "kind"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name}: expected a non-empty string, got {value!r}")
        if self.unit is not None and self.unit not in MILLIMETRES_PER_UNIT:
            raise ValueError(f"unit: expected one of {sorted(MILLIMETRES_PER_UNIT)} or null, got {self.unit!r}")

    @classmethod
    def from_dict(cls, data: Any) -> Socket:
        """A socket from its JSON object; unknown keys are errors, so a typo cannot drop a unit."""
        if not isinstance(data, dict):
            raise ValueError(f"expected an object with keys {_field_names()}, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_field_names()))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown}; known keys: {_field_names()}")
        missing = [name for name in ("slug", "relative_path", "kind") if name not in data]
        if missing:
            raise ValueError(f"missing key(s) {missing}")
        return cls(**data)


def _field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Socket)]


# Input sockets: the image each task reads.
REGION_OF_INTEREST = Socket("histopathology-region-of-interest-cropout", "images/histopathology-roi-cropout", "Image")
WHOLE_SLIDE_IMAGE = Socket("whole-slide-image", "images/whole-slide-image", "Image")

# Output sockets.
MITOTIC_FIGURES = Socket("mitotic-figures", "mitotic-figures.json", "Multiple points", unit="mm")
TUMOUR_LIKELIHOOD = Socket("tumour-likelihood", "tumour-likelihood.json", "Float")
TUMOUR_MAJOR_AXIS = Socket("tumour-major-axis", "tumour-major-axis.json", "Float", unit="um")
TUMOUR_MAJOR_AXIS_LINE = Socket(
    "tumour-major-axis-line", "tumour-major-axis-line.json", "Distance measurement", unit="mm"
)
TUMOUR_HEATMAP = Socket("tumour-heatmap", "images/tumour-heatmap/heatmap.mha", "Heat Map")
# a uint8 0/1 mask on the input's grid (spacing and origin in mm); the evaluation's segmentation socket
NUCLEI_SEGMENTATION = Socket("nuclei-segmentation", "images/nuclei-segmentation/nuclei.mha", "Segmentation")
# a generic slide label (the HER2 study's positive/negative): the probability the slide is positive, and the call
SLIDE_LABEL_LIKELIHOOD = Socket("slide-label-likelihood", "slide-label-likelihood.json", "Float")
SLIDE_LABEL = Socket("slide-label", "slide-label.json", "Bool")  # JSON true or false

# Every socket above by slug: what the evaluation looks a configured socket's unit up in.
SOCKETS = {
    socket.slug: socket
    for socket in (
        REGION_OF_INTEREST,
        WHOLE_SLIDE_IMAGE,
        MITOTIC_FIGURES,
        TUMOUR_LIKELIHOOD,
        TUMOUR_MAJOR_AXIS,
        TUMOUR_MAJOR_AXIS_LINE,
        TUMOUR_HEATMAP,
        NUCLEI_SEGMENTATION,
        SLIDE_LABEL_LIKELIHOOD,
        SLIDE_LABEL,
    )
}
