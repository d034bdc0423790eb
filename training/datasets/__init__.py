"""Dataset readers: annotated slides for training and validation."""

from training.datasets.annotations import SlideAnnotations
from training.datasets.midog import read_midog_database, read_midog_split
from training.datasets.synthetic import read_synthetic_folder

__all__ = ["SlideAnnotations", "read_midog_database", "read_midog_split", "read_synthetic_folder"]
