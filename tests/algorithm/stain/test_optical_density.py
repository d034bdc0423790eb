"""RGB <-> OD and the luminosity tissue test, against StainTools/OpenCV."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithm.stain.optical_density import (
    luminosity_tissue_mask,
    od_to_rgb,
    rgb_to_od,
    tissue_pixels,
)

cv2 = pytest.importorskip("cv2")
staintools_od = pytest.importorskip("staintools.miscellaneous.optical_density_conversion")


def test_rgb_to_od_matches_staintools_and_leaves_input_alone(source_img):
    img = source_img.copy()
    img[:5, :5] = 0  # StainTools reads 0 as 1
    before = img.copy()
    ours = rgb_to_od(img)
    ref = staintools_od.convert_RGB_to_OD(img.copy())
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
    assert np.array_equal(img, before)
    t = torch.from_numpy(img)
    np.testing.assert_allclose(rgb_to_od(t).numpy(), ref, atol=1e-5)
    assert np.array_equal(t.numpy(), before)


def test_od_round_trip_and_extremes():
    v = np.arange(256, dtype=np.uint8).reshape(-1, 1).repeat(3, 1)
    od = rgb_to_od(v)
    assert np.all(np.isfinite(od)) and od.min() >= 1e-6
    back = od_to_rgb(od)
    # 255 * exp(-OD) truncated: within one level of the input (0 reads as 1).
    assert np.abs(back.astype(int) - np.maximum(v, 1)).max() <= 1
    # Negative OD never wraps around.
    assert od_to_rgb(np.array([[-1.0, 0.0, 50.0]])).tolist() == [[255, 255, 0]]
    assert od_to_rgb(torch.tensor([[-1.0, 0.0, 50.0]])).tolist() == [[255, 255, 0]]


def test_luminosity_mask_agrees_with_opencv(he_images):
    for name, img in he_images.items():
        lum = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)[..., 0] / 255.0
        for t in (0.5, 0.8, 0.9):
            ours = luminosity_tissue_mask(img, t)
            agree = float(np.mean(ours == (lum < t)))
            # OpenCV's 8-bit Lab uses fixed-point tables; pixels on the boundary may differ.
            assert agree > 0.995, (name, t, agree)
        assert np.array_equal(luminosity_tissue_mask(torch.from_numpy(img)).numpy(), luminosity_tissue_mask(img))


def test_luminosity_mask_extremes():
    px = np.array([[255, 255, 255], [0, 0, 0], [200, 200, 200], [210, 210, 210]], np.uint8)
    # L* of grey 200 is 80.6 (8-bit 206) -> not tissue at 0.8; grey 0 is tissue.
    assert luminosity_tissue_mask(px).tolist() == [False, True, False, False]
    assert not luminosity_tissue_mask(px, 0.0).any()
    assert luminosity_tissue_mask(px, 1.01).all()
    assert tissue_pixels(np.full((4, 4, 3), 255, np.uint8)).shape == (0, 3)
