"""The evaluation container: scores an algorithm submission against the ground truth.

Self-contained on purpose: the container image holds only this package and
``evaluation/requirements.txt`` (numpy, scipy, scikit-learn,
grand-challenge-metrics, SimpleITK; matplotlib for the plots only, imported
when they are asked for), so nothing here imports torch or the
``algorithm`` package. Entry point: ``python -m evaluation`` (see ``cli.py``).
"""

from __future__ import annotations

__version__ = "1.0.0"
