"""Mitotic-figure detection over a slide: candidates from the tile engine, merged across tile overlaps (NMS)."""

from algorithm.detection.predict import Candidates
from algorithm.detection.slide import (
    DetectionOptions,
    SlideDetections,
    detect_slide,
    detection_grid,
    detection_model,
    slide_detections,
)

__all__ = [
    "Candidates",
    "DetectionOptions",
    "SlideDetections",
    "detect_slide",
    "detection_grid",
    "detection_model",
    "slide_detections",
]
