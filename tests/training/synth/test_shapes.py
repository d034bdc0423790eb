from __future__ import annotations

import math

import numpy as np

from training.synth.shapes import Blob


def test_plain_ellipse_radius():
    b = Blob(100.0, 50.0, 40.0, 20.0, math.pi / 2)
    # Rotated by 90 degrees: the major axis runs along y.
    assert np.isclose(b.radius(np.array(100.0), np.array(90.0)), 1.0, atol=1e-5)
    assert np.isclose(b.radius(np.array(120.0), np.array(50.0)), 1.0, atol=1e-5)
    assert b.radius(np.array(100.0), np.array(50.0)) < 1e-6


def test_harmonics_perturb_the_boundary_within_the_bbox():
    b = Blob(0.0, 0.0, 30.0, 30.0, 0.0, ((3, 0.2, 0.0),))
    # Along theta = 0 the radius is scaled by 1.2, along theta = pi/3 by 0.8.
    assert np.isclose(b.radius(np.array(36.0), np.array(0.0)), 1.0, atol=1e-4)
    assert np.isclose(b.radius(np.array(24.0 * 0.5), np.array(24.0 * math.sqrt(3) / 2)), 1.0, atol=1e-4)
    x0, y0, x1, y1 = b.bbox()
    theta = np.linspace(0, 2 * np.pi, 720)
    for r in (20.0, 35.9):
        inside = b.radius(r * np.cos(theta), r * np.sin(theta)) < 1
        xs, ys = (r * np.cos(theta))[inside], (r * np.sin(theta))[inside]
        assert (xs >= x0).all() and (xs <= x1).all() and (ys >= y0).all() and (ys <= y1).all()
