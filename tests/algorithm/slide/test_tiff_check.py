"""A TIFF-family slide cut short says so, whichever reader would have refused it, and a whole one passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from algorithm.errors import SlideError
from algorithm.slide import open_slide
from algorithm.slide.tiff_check import is_tiff, problem
from tests.conftest import blob_image, write_pyramid_tiff


def _cut(source: Path, target: Path, keep: int) -> Path:
    target.write_bytes(source.read_bytes()[:keep])
    return target


def test_whole_slides_pass(shared_data: Path, tmp_path: Path) -> None:
    for path in (
        shared_data / "wsi" / "cmu-1-small-region.svs",
        shared_data / "wsi" / "tcga-cr-7395-01a-01-ts1.svs",  # JPEG 2000
        shared_data / "openslide" / "boxes.tiff",
        write_pyramid_tiff(tmp_path / "s.tiff", blob_image(600, 400), tile=128),
    ):
        assert is_tiff(path) and problem(path) is None, path
    dicom = shared_data / "wsi" / "small_dicom.dcm"
    assert not is_tiff(dicom) and problem(dicom) is None


def test_a_cut_slide_is_called_truncated_by_open_slide(shared_data: Path, tmp_path: Path) -> None:
    svs = shared_data / "wsi" / "cmu-1-small-region.svs"
    size = svs.stat().st_size
    for keep in (200, 500_000, size * 9 // 10):  # the header only, the first level's tiles, most of it
        cut = _cut(svs, tmp_path / f"cut-{keep}.svs", keep)
        with pytest.raises(SlideError) as info:
            open_slide(cut)
        message = str(info.value)
        assert message.startswith(f"{cut}: truncated: the file ends at byte {keep:,} but its next image directory")
        assert "\n" not in message


def test_image_data_past_the_end_is_truncation_too(tmp_path: Path) -> None:
    """tifffile writes a single image's directory first: cutting the file leaves the directory whole and its
    tiles short."""
    whole = write_pyramid_tiff(tmp_path / "whole.tiff", blob_image(600, 400), tile=128, levels=1)
    size = whole.stat().st_size
    cut = _cut(whole, tmp_path / "cut.tiff", size * 9 // 10)
    why = f"truncated: the file ends at byte {size * 9 // 10:,} but its image data runs to byte {size:,}"
    assert problem(cut) == why
    with pytest.raises(SlideError, match=f"cut.tiff: {why}$"):
        open_slide(cut)
    header = _cut(whole, tmp_path / "header.tif", 6)
    with pytest.raises(SlideError, match="header.tif: truncated: 6 bytes, shorter than a TIFF header"):
        open_slide(header)


def test_a_looping_directory_chain_is_damage(tmp_path: Path) -> None:
    data = bytearray(write_pyramid_tiff(tmp_path / "s.tiff", blob_image(200, 100), levels=1).read_bytes())
    first = int.from_bytes(data[4:8], "little")
    count = int.from_bytes(data[first : first + 2], "little")
    link = first + 2 + 12 * count
    data[link : link + 4] = first.to_bytes(4, "little")  # the directory names itself as the next
    (tmp_path / "loop.tiff").write_bytes(bytes(data))
    assert problem(tmp_path / "loop.tiff") == "damaged: its chain of image directories loops"


def test_a_file_named_as_a_tiff_that_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "notes.svs").write_text("not a slide\n")
    with pytest.raises(SlideError, match=r"notes\.svs: not a slide: a \.svs file is a TIFF, and this one does not"):
        open_slide(tmp_path / "notes.svs")
