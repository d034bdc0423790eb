"""Tissue detection: where on the slide there is something to analyse."""

from algorithm.tissue.blood import blood_fraction, blood_mask
from algorithm.tissue.mask import TissueMask, tissue_mask, tissue_mask_from_rgb

__all__ = ["TissueMask", "tissue_mask", "tissue_mask_from_rgb", "blood_mask", "blood_fraction"]
