"""Slide-level models: heatmap features -> tumour probability and major axis."""

from algorithm.classify.slide_model import SlideModel, SlidePrediction, load_slide_model

__all__ = ["SlideModel", "SlidePrediction", "load_slide_model"]
