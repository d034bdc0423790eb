"""Slide-level models: heatmap features -> tumour probability and major axis; patch probabilities -> a label."""

from algorithm.classify.label_model import LabelModel, LabelPrediction, load_label_model
from algorithm.classify.slide_model import SlideModel, SlidePrediction, load_slide_model

__all__ = ["LabelModel", "LabelPrediction", "SlideModel", "SlidePrediction", "load_label_model", "load_slide_model"]
