"""Reading masks with their spacing and resampling predictions onto the truth's grid."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from evaluation.errors import EvaluationError
from evaluation.masks import Mask, check_same_extent, foreground, read_mask, resample_to
from tests.evaluation.builders import write_mask
from tests.unprivileged import raised_by, unreadable


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


def _compressed_mask(tmp_path):
    """A real compressed MetaImage mask, as the kit's algorithm writes one."""
    array = (np.random.default_rng(0).random((48, 64)) < 0.5).astype(np.uint8)  # a few hundred bytes compressed
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.002, 0.002))
    path = tmp_path / "good.mha"
    sitk.WriteImage(image, str(path), useCompression=True)
    return path, array


def _only_our_line(capfd, excinfo, expected: str) -> None:
    """The message is ours, in one line, and ITK printed nothing on the process's stderr."""
    message = str(excinfo.value)
    assert message == expected, message
    assert "\n" not in message and "ITK" not in message and "No such file" not in message
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == "", captured


def test_a_truncated_compressed_mask_is_one_line_without_itks_chatter(tmp_path, capfd):
    good, _ = _compressed_mask(tmp_path)
    cut = tmp_path / "cut.mha"
    cut.write_bytes(good.read_bytes()[:400])  # `head -c 400`: the header and part of the pixel data
    promised = int(next(line for line in good.read_bytes().split(b"\n") if line.startswith(b"CompressedDataSize"))[21:])
    held = 400 - good.read_bytes().index(b"ElementDataFile = LOCAL\n") - len(b"ElementDataFile = LOCAL\n")
    with pytest.raises(EvaluationError) as err:
        read_mask(cut, "job x (cut.mha)")
    _only_our_line(
        capfd,
        err,
        f"job x (cut.mha): the image is truncated: its header promises {promised} bytes of pixel data, "
        f"the file holds {held}",
    )


def test_a_truncation_only_itk_notices_is_one_line_without_its_chatter(tmp_path, capfd):
    """An element type whose size is the platform's is left to ITK; what it prints is kept from the user."""
    header = (
        "ObjectType = Image\nNDims = 2\nBinaryData = True\nCompressedData = False\nDimSize = 8 8\n"
        "ElementType = MET_ULONG\nElementDataFile = LOCAL\n"
    )
    (tmp_path / "ulong.mha").write_bytes(header.encode() + bytes(10))
    with pytest.raises(EvaluationError) as err:
        read_mask(tmp_path / "ulong.mha", "ulong")
    _only_our_line(
        capfd, err, "ulong: cannot read the image: the image is truncated or damaged: its pixel data ends early"
    )


def test_a_truncated_uncompressed_mask_and_a_missing_data_file(tmp_path, capfd):
    image = sitk.GetImageFromArray(np.ones((48, 64), np.uint16))
    sitk.WriteImage(image, str(tmp_path / "u.mha"), useCompression=False)
    data = (tmp_path / "u.mha").read_bytes()
    (tmp_path / "u.mha").write_bytes(data[:-100])
    with pytest.raises(EvaluationError) as err:
        read_mask(tmp_path / "u.mha", "u")
    _only_our_line(
        capfd, err, "u: the image is truncated: its header promises 6144 bytes of pixel data, the file holds 6044"
    )
    sitk.WriteImage(image, str(tmp_path / "v.mhd"), useCompression=False)  # header v.mhd, pixels v.raw
    (tmp_path / "v.raw").unlink()
    with pytest.raises(EvaluationError) as err:
        read_mask(tmp_path / "v.mhd", "v")
    _only_our_line(capfd, err, "v: the image's pixel data file v.raw (named in its header) is missing")


def test_damaged_compressed_pixels_are_refused_not_read_as_garbage(tmp_path, capfd):
    """ITK inflates a damaged zlib stream without an error, into whatever was in memory."""
    good, array = _compressed_mask(tmp_path)
    data = good.read_bytes()
    (tmp_path / "bad.mha").write_bytes(data[:-40] + bytes(40))  # the right length, the wrong bytes
    with pytest.raises(EvaluationError) as err:
        read_mask(tmp_path / "bad.mha", "bad")
    _only_our_line(
        capfd,
        err,
        "bad: the image is damaged: its compressed pixel data does not inflate to the 3072 bytes its header needs",
    )
    np.testing.assert_array_equal(read_mask(good, "good").array, array)  # the intact file reads as written


def test_an_unreadable_file_says_so_in_our_words(tmp_path, capfd):
    for name, data in (("empty.mha", b""), ("cut.tif", None)):
        path = tmp_path / name
        if data is None:
            tifffile.imwrite(tmp_path / "whole.tif", np.ones((64, 64), np.uint8))
            data = (tmp_path / "whole.tif").read_bytes()[:100]
        path.write_bytes(data)
        with pytest.raises(EvaluationError) as err:
            read_mask(path, name)
        _only_our_line(
            capfd,
            err,
            f"{name}: cannot read the image: not an image this evaluation can read "
            "(MetaImage .mha/.mhd, TIFF, PNG, NRRD, NIfTI), or a damaged or truncated one",
        )
    with pytest.raises(EvaluationError, match="^gone: file not found$"):
        read_mask(tmp_path / "gone.mha", "gone")


def _mask(shape: tuple[int, int], spacing: tuple[float, float] | None) -> Mask:
    return Mask(array=np.zeros(shape, np.uint8), spacing_mm=spacing)


def test_extents_must_agree_when_both_spacings_are_known():
    truth = _mask((96, 128), (0.001, 0.001))  # 0.128 x 0.096 mm
    check_same_extent(_mask((48, 64), (0.002, 0.002)), "p", truth, "t")  # half resolution
    check_same_extent(_mask((13, 17), (0.008, 0.008)), "p", truth, "t")  # a downsample's size rounded up
    check_same_extent(_mask((48, 64), None), "p", truth, "t")  # unknown spacing: the same extent is assumed
    check_same_extent(_mask((48, 64), (2.0, 2.0)), "p", _mask((96, 128), None), "t")
    with pytest.raises(EvaluationError) as err:
        check_same_extent(_mask((48, 64), (2.0, 2.0)), "p", truth, "t")
    assert str(err.value) == (
        "p: covers 128 x 96 mm (64 x 48 pixels, spacing 2 x 2 mm) but t covers 0.128 x 0.096 mm "
        "(128 x 96 pixels, spacing 0.001 x 0.001 mm): the spacing looks like micrometres; "
        "a mask's spacing is in millimetres per pixel"
    )
    with pytest.raises(EvaluationError, match=r"spacing 2e-06 x 2e-06 mm\) but .*looks like metres"):
        check_same_extent(_mask((48, 64), (2e-6, 2e-6)), "p", truth, "t")
    with pytest.raises(EvaluationError, match=r"p: covers 0.128 x 0.048 mm .* spacing 0.001 x 0.001 mm\)$"):
        check_same_extent(_mask((48, 128), (0.001, 0.001)), "p", truth, "t")  # half the height: no hint


def test_a_mask_or_its_pixel_data_it_may_not_read_is_named_as_such(tmp_path):
    """Not ITK's "damaged or not an image": the system refused (root's override dropped where tests run as root)."""
    mha = write_mask(tmp_path / "m.mha", np.zeros((4, 4), np.uint8), (0.001, 0.001))
    mhd = write_mask(tmp_path / "m.mhd", np.zeros((4, 4), np.uint8), (0.001, 0.001))
    unreadable(mha)
    unreadable(tmp_path / "m.raw")
    reader = "from evaluation.masks import read_mask"
    assert (
        raised_by(reader, f"read_mask(Path({str(mha)!r}), 'truth')")
        == "EvaluationError: truth: cannot read (Permission denied)"
    )
    assert raised_by(reader, f"read_mask(Path({str(mhd)!r}), 'truth')") == (
        "EvaluationError: truth: the image's pixel data file m.raw cannot be read (Permission denied)"
    )
