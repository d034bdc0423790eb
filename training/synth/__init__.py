"""Synthetic H&E whole slides with known truth (mitoses, imposters, tumour region).

A slide is a pure function of a :class:`SynthConfig` and the region asked for:

    from training.synth import SynthConfig, render_region, render_concentrations
    cfg = SynthConfig(seed=3, width=8000, height=6000, scanner="B", label="tumour")
    rgb = render_region(cfg, x=1000, y=2000, width=512, height=512)            # uint8 (512, 512, 3)
    conc = render_concentrations(cfg, 1000, 2000, 512, 512)                    # float32 (512, 512, 2): H, E
    red_blood = render_region(cfg.replace(haemoglobin=1.0), 1000, 2000, 512, 512)  # cherry-red red cells
    same_tissue_other_scanner = render_region(cfg.replace(scanner="D"), 1000, 2000, 512, 512)
    thumb = render_region(cfg, 0, 0, 500, 375, downsample=16)                  # lower levels directly
    rgb, nuclei = render_region_with_nuclei(cfg, 1000, 2000, 512, 512)         # + bool (512, 512) nuclei truth

and :func:`generate_slide` writes ``<name>.tiff`` (pyramidal, OpenSlide-readable)
with its truth files (see :mod:`training.synth.truth`). Modules, in pipeline
order: config, scanners (stain matrices), noise (coordinate-hashed textures),
shapes and layout (regions), specials (mitoses and imposters, placed once per
slide), cells (the regular cells' lattice and parameters), drawing (cells onto
channels; which pixels are nucleus; the mean field of low levels), confounders
(pyknotic and apoptotic cells, plasma cells, lymphocyte clusters, tangential
cuts, dark spindle nuclei, debris: look-alikes to reject), texture (stroma,
cytoplasm), render (Beer-Lambert), pyramid (TIFF writer), truth, nuclei_mask (the level-0 nuclei mask, streamed),
generate, command (``python -m training synth``).
"""

from training.synth.config import SynthConfig
from training.synth.confounders import CONFOUNDER_NAMES, Confounders, confounders
from training.synth.drawing import draw_nuclei_mask
from training.synth.generate import SlideFiles, SlideResult, generate_slide, slide_name
from training.synth.layout import build_layout, tissue_mask, tumour_mask
from training.synth.pyramid import TiffOptions, write_pyramid
from training.synth.render import (
    blur_sigma,
    cells_in_region,
    concentrations_to_intensity,
    concentrations_to_rgb,
    render_concentrations,
    render_region,
    render_region_with_nuclei,
)
from training.synth.scanners import SCANNERS, Scanner, get_scanner
from training.synth.specials import BOX_UM, IMPOSTER, MITOSIS, Specials, specials

__all__ = [
    "BOX_UM",
    "CONFOUNDER_NAMES",
    "IMPOSTER",
    "MITOSIS",
    "SCANNERS",
    "Confounders",
    "Scanner",
    "SlideFiles",
    "SlideResult",
    "Specials",
    "SynthConfig",
    "TiffOptions",
    "blur_sigma",
    "build_layout",
    "cells_in_region",
    "concentrations_to_intensity",
    "concentrations_to_rgb",
    "confounders",
    "draw_nuclei_mask",
    "generate_slide",
    "get_scanner",
    "render_concentrations",
    "render_region",
    "render_region_with_nuclei",
    "slide_name",
    "specials",
    "tissue_mask",
    "tumour_mask",
    "write_pyramid",
]
