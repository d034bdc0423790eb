import numpy as np

from algorithm.tissue import blood_fraction, blood_mask


def test_red_blood_is_blood_and_pink_stroma_is_not() -> None:
    pixels = np.array([[[190, 35, 45], [230, 150, 200], [150, 90, 170], [245, 245, 245]]], np.uint8)
    np.testing.assert_array_equal(blood_mask(pixels)[0], [True, False, False, False])


def test_blood_fraction_ignores_glass() -> None:
    patch = np.full((10, 10, 3), 245, np.uint8)
    patch[:5, :4] = (190, 35, 45)
    patch[5:, :4] = (230, 150, 200)
    assert blood_fraction(patch) == 0.5
    assert blood_fraction(np.full((4, 4, 3), 250, np.uint8)) == 0.0


def test_blood_filters_refuse_what_is_not_uint8_rgb() -> None:
    import pytest

    from algorithm.errors import ConfigError

    patch = np.full((10, 10, 3), 245, np.uint8)
    patch[:5, :4] = (190, 35, 45)
    for call in (blood_mask, blood_fraction):
        with pytest.raises(ConfigError, match="got dtype float64"):  # was no blood at all, silently
            call(patch / 255.0)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="RGBA"):
            call(np.dstack([patch, patch[..., :1]]))
