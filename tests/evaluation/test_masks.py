"""Reading masks with their spacing and resampling predictions onto the truth's grid."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from evaluation.errors import EvaluationError
from evaluation.masks import foreground, read_mask, resample_to
from tests.evaluation.builders import write_mask


def test_spacing_from_mha_and_tiff_resolution(tmp_path):
    a = (np.arange(48).reshape(6, 8) % 3 == 0).astype(np.uint8)
    mha = read_mask(write_mask(tmp_path / "a.mha", a, (0.002, 0.004)), "a")
    assert mha.spacing_mm == pytest.approx((0.002, 0.004))
    np.testing.assert_array_equal(mha.array, a)
    # TIFF resolution in pixels per centimetre: 0.5 um pixels.
    tifffile.imwrite(tmp_path / "b.tif", a, resolution=(20000, 20000), resolutionunit="CENTIMETER")
    assert read_mask(tmp_path / "b.tif", "b").spacing_mm == pytest.approx((0.0005, 0.0005))
    tifffile.imwrite(tmp_path / "c.tif", a)
    assert read_mask(tmp_path / "c.tif", "c").spacing_mm is None  # no resolution tags: unknown


def test_single_slice_3d_is_2d_and_rgb_or_volume_is_rejected(tmp_path):
    vol = np.zeros((1, 4, 5), np.uint8)
    assert read_mask(write_mask(tmp_path / "s.mha", vol, None), "s").array.shape == (4, 5)
    write_mask(tmp_path / "v.mha", np.zeros((3, 4, 5), np.uint8), None)
    with pytest.raises(EvaluationError, match="must be 2-D"):
        read_mask(tmp_path / "v.mha", "v")
    rgb = sitk.GetImageFromArray(np.zeros((4, 5, 3), np.uint8), isVector=True)
    sitk.WriteImage(rgb, str(tmp_path / "rgb.png"))
    with pytest.raises(EvaluationError, match="must have one channel, this image has 3"):
        read_mask(tmp_path / "rgb.png", "rgb")
    (tmp_path / "junk.mha").write_text("not an image")
    with pytest.raises(EvaluationError, match="junk: cannot read the image"):
        read_mask(tmp_path / "junk.mha", "junk")


def test_foreground():
    np.testing.assert_array_equal(foreground(np.array([0, 1, 255], np.uint8), "m"), [False, True, True])
    np.testing.assert_array_equal(foreground(np.array([0.2, 0.5, 0.9]), "m", 0.5), [False, True, True])
    with pytest.raises(EvaluationError, match="NaN"):
        foreground(np.array([0.2, np.nan]), "m")


def test_half_resolution_prediction_equals_pixel_repetition():
    rng = np.random.default_rng(0)
    pred = rng.uniform(size=(20, 30)) < 0.5
    out = resample_to(pred, (0.002, 0.002), (40, 60), (0.001, 0.001))
    np.testing.assert_array_equal(out, np.repeat(np.repeat(pred, 2, axis=0), 2, axis=1))
    # Unknown spacing: the same extent is assumed, so the result is the same.
    np.testing.assert_array_equal(resample_to(pred, None, (40, 60), (0.001, 0.001)), out)


def test_double_resolution_prediction_is_subsampled_and_outside_is_background():
    pred = np.arange(16 * 24).reshape(16, 24) % 5 == 0
    np.testing.assert_array_equal(resample_to(pred, (0.5, 0.5), (8, 12), (1.0, 1.0)), pred[1::2, 1::2])
    small = np.ones((4, 4), bool)  # covers only the top-left part of the truth's extent
    out = resample_to(small, (1.0, 1.0), (6, 8), (1.0, 1.0))
    assert out[:4, :4].all() and not out[4:].any() and not out[:, 4:].any()


def test_same_grid_is_identity():
    pred = np.eye(5, dtype=bool)
    assert resample_to(pred, (0.25, 0.25), (5, 5), (0.25, 0.25)) is pred
