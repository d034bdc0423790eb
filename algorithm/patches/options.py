"""How patches are chosen: the HER2 study's filters and their thresholds, checked on construction.

The defaults, and the figures that chose them. Measured with ``select_patches`` on 8 synthetic
slides (``python -m training synth --count 8 --seed 300 --size 16384x12288``: 4 x 3 mm, scanners
B, C and D, 4 tumour and 4 normal, 1232 candidate patches) against the generator's layout, and on
the real ``../shared/data/wsi/cmu-1-small-region.svs`` (skin, 0.499 um/px, 24 candidates):

- ``size`` 296 at ``mpp`` 1.0: the study's patches (a 40x scan at 0.25 um/px reduced to 1/4).
- ``min_tissue`` 0.5: at least half the patch inside the tissue mask (Otsu: glass dropped). On the
  synthetic slides no patch with under 20 % drawn tissue is kept, every one with over 85 % is
  (390 of 390), and the least tissue in a kept patch is 48 %.
- ``max_blood`` 0.5: a patch is dropped when most of its stained pixels are blood red (the kit's red
  filter, :func:`~algorithm.tissue.blood_mask`, on the colours as scanned). Tissue patches measure
  0 to 0.08 (synthetic ones away from bleeds, and CMU-1), a patch of red cells 1.0. Synthetic red cells are
  blood red only with ``python -m training synth --haemoglobin 1`` (by default they are dense eosin, magenta,
  which no red filter sees); on such slides every patch over 70 % bleed is dropped.
- ``haematoxylin_threshold`` 0.1: a 4 um filter pixel is haematoxylin-positive above this
  concentration (optical density along the fitted haematoxylin vector, relative to the glass). At
  4 um/px nuclei are averaged with what surrounds them: pixels of the synthetic stroma, whose
  fibroblast nuclei are thinner than a pixel, read 0.03 to 0.20 (5th to 95th percentile, median
  0.12); eosin-only tissue (the tests' composed slide) reads 0.01 (95th percentile 0.03), glass 0.
  At 0.3, a third of the synthetic stroma patches would fall under a 0.1 share, at 0.2 15 %, at 0.1 none.
- ``min_haematoxylin`` 0.1: the positive share of the patch. Synthetic tumour nests measure 0.92 and
  more, stroma 0.28 and more (patches that are half glass 0.2 and more), CMU-1's tissue patches 0.41
  to 0.73, eosin-only tissue under 0.03: half the lowest synthetic tissue patch.
- ``min_haematoxylin_context`` 0.05 over ``context`` 1 (the 3 x 3 patches around a patch, cut to
  the slide): synthetic tissue patches measure 0.115 and more, CMU-1's 0.31 and more; a lone patch
  with glass all round measures a ninth of its own share (0.03 to 0.08 for synthetic stroma), so
  the poorest fragments without supporting tissue go.
- ``filter_mpp`` 4.0: the filters measure shares of area, which need no detail; the whole slide is
  read once at this resolution (coarser when that read would exceed :data:`MAX_FILTER_SIDE`). The
  haematoxylin threshold holds for this resolution: finer reads resolve nuclei and read higher.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from algorithm.configs import config_values
from algorithm.errors import ConfigError

# The one low-resolution read of the slide stays within this many pixels a side (48 MB of RGB).
MAX_FILTER_SIDE = 4096


@dataclass(frozen=True)
class PatchOptions:
    """The patch grid and the filters that drop glass, blood and nuclei-poor patches."""

    size: int = 296  # patch side in pixels at ``mpp``
    mpp: float = 1.0  # the study's 1/4 of a 0.25 um/px scan
    min_tissue: float = 0.5  # tissue-mask share of the patch (Otsu: glass dropped)
    max_blood: float = 0.5  # blood share of the patch's stained pixels
    min_haematoxylin: float = 0.1  # haematoxylin-positive share of the patch (nuclei)
    min_haematoxylin_context: float = 0.05  # ... of the patch grown by ``context`` patches each side
    context: int = 1  # neighbouring patches on each side that make a patch's context
    haematoxylin_threshold: float = 0.1  # concentration above which a filter pixel is haematoxylin-positive
    filter_mpp: float = 4.0  # the resolution of the one read the filters run on

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ConfigError(f"patch size must be a positive whole number of pixels, got {self.size!r}")
        if isinstance(self.context, bool) or not isinstance(self.context, int) or self.context < 0:
            raise ConfigError(f"patch context must be a whole number of patches >= 0, got {self.context!r}")
        for name in ("mpp", "filter_mpp", "haematoxylin_threshold"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"patch option {name} must be a positive number, got {value!r}")
        for name in ("min_tissue", "max_blood", "min_haematoxylin", "min_haematoxylin_context"):
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"patch option {name} is a share of the patch: it must be in [0, 1], got {value!r}")

    @property
    def patch_um(self) -> float:
        """The patch side in micrometres."""
        return self.size * self.mpp

    def to_dict(self) -> dict[str, Any]:
        """Plain values (a checkpoint keeps the filters its model was trained with)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "patch options") -> PatchOptions:
        """Rebuild from :meth:`to_dict`; ``source`` names it in errors (unknown keys are errors)."""
        return cls(**config_values(cls, data, source))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
