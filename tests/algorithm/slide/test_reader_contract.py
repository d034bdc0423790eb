"""What every reader promises a library user: closing, argument checks, errors, and leaving the process's
logging and warnings as they were."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile
from PIL import Image

import algorithm.slide
from algorithm.errors import ConfigError, KitError, SlideError
from algorithm.slide import SlideReader, open_slide
from algorithm.slide.quiet import quiet
from tests.conftest import REPO, blob_image, write_pyramid_tiff

# --- one slide of each reader ---------------------------------------------------------------------------


def _pyramid(folder: Path, shared: Path) -> Path:
    return write_pyramid_tiff(folder / "pyramid.tiff", blob_image(300, 200), mpp=0.5, levels=2)  # OpenSlide


def _plain(folder: Path, shared: Path) -> Path:
    path = folder / "plain.tif"  # stripped: tifffile's reader
    tifffile.imwrite(path, blob_image(300, 200), photometric="rgb", resolution=(2e4, 2e4), resolutionunit="CENTIMETER")
    return path


def _picture(folder: Path, shared: Path) -> Path:
    Image.fromarray(blob_image(300, 200)).save(folder / "patch.png")
    return folder / "patch.png"


def _itk(folder: Path, shared: Path) -> Path:
    image = sitk.GetImageFromArray(blob_image(300, 200), isVector=True)
    image.SetSpacing((0.0005, 0.0005))
    sitk.WriteImage(image, str(folder / "slide.mha"))
    return folder / "slide.mha"


def _dicom(folder: Path, shared: Path) -> Path:
    return shared / "wsi" / "small_dicom.dcm"


def _svs(folder: Path, shared: Path) -> Path:
    return shared / "wsi" / "cmu-1-small-region.svs"


READERS: dict[str, Callable[[Path, Path], Path]] = {
    "openslide": _pyramid,
    "tifffile": _plain,
    "pillow": _picture,
    "simpleitk": _itk,
    "pydicom": _dicom,
    "openslide svs": _svs,
}


@pytest.fixture(params=sorted(READERS))
def slide_path(request: pytest.FixtureRequest, tmp_path: Path, shared_data: Path) -> tuple[str, Path]:
    name = request.param
    return name.split()[0], READERS[name](tmp_path, shared_data)


# --- closing ----------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning:pydicom")
def test_close_is_idempotent_and_reads_after_it_say_the_slide_is_closed(slide_path: tuple[str, Path]) -> None:
    backend, path = slide_path
    slide = open_slide(path, mpp=0.5)
    assert slide.backend == backend and not slide.closed
    dimensions, mpp = slide.dimensions, slide.mpp
    with slide:
        pass
    slide.close()  # again, after the with-block: nothing happens
    slide.close()
    assert slide.closed
    assert (slide.dimensions, slide.mpp) == (dimensions, mpp)  # what was read at open stays readable
    reads: list[Callable[[], object]] = [
        lambda: slide.read_region((0, 0), 0, (4, 4)),
        lambda: slide.read_rect((0, 0), (4, 4), 1.0),
        lambda: slide.read_extent((0, 0), (8, 8), (4, 4)),
        lambda: slide.get_thumbnail(16),
    ]
    for read in reads:
        with pytest.raises(SlideError) as info:
            read()
        assert str(info.value) == f"{path}: the slide is closed"
    assert slide.native_tiles() is None


def test_openslide_metadata_stays_readable_after_close(shared_data: Path) -> None:
    with open_slide(shared_data / "wsi" / "cmu-1-small-region.svs") as slide:
        properties = slide.properties  # type: ignore[attr-defined]
    assert slide.properties == properties  # type: ignore[attr-defined]
    assert slide.mpp == pytest.approx((0.499, 0.499))


# --- arguments --------------------------------------------------------------------------------------------


@pytest.fixture
def svs(shared_data: Path) -> Path:
    return shared_data / "wsi" / "cmu-1-small-region.svs"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (0.5, (0.5, 0.5)),
        (1, (1.0, 1.0)),
        (np.float32(0.5), (0.5, 0.5)),
        (np.float64(0.25), (0.25, 0.25)),
        (np.int64(2), (2.0, 2.0)),
        ((0.25, 0.5), (0.25, 0.5)),
        ([0.25, 0.5], (0.25, 0.5)),
        (np.array([0.25, 0.5]), (0.25, 0.5)),
        ((np.float32(0.5), 1), (0.5, 1.0)),
    ],
)
def test_mpp_is_a_number_or_a_pair_of_numbers(svs: Path, given: object, expected: tuple[float, float]) -> None:
    with open_slide(svs, mpp=given) as slide:  # type: ignore[arg-type]
        assert slide.mpp == expected
        assert type(slide.mpp) is tuple and all(type(m) is float for m in slide.mpp)
    with open_slide(svs, default_mpp=given) as slide:  # type: ignore[arg-type]
        assert slide.mpp == pytest.approx((0.499, 0.499))  # the file's own


@pytest.mark.parametrize(
    "bad", [(0.5,), (0.5, 0.5, 0.5), [0.5], "0.5", b"0.5", True, np.bool_(True), (0.5, "0.5"), {"x": 0.5}, np.ones(3)]
)
@pytest.mark.parametrize("name", ["mpp", "default_mpp"])
def test_other_mpp_values_are_one_config_error(svs: Path, bad: object, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_slide(svs, **{name: bad})  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{svs}: {name} must be a number of microns per pixel or an (x, y) pair")
    assert str(info.value).endswith(f"got {bad!r}")


@pytest.mark.parametrize("bad", [0, -1, 0.0, 1e3, float("nan"), float("inf"), (0.25, 0)])
def test_mpp_out_of_range_is_one_config_error(svs: Path, bad: object) -> None:
    with pytest.raises(ConfigError) as info:
        open_slide(svs, mpp=bad)  # type: ignore[arg-type]
    assert str(info.value) == f"{svs}: mpp must be between 0.01 and 100 microns per pixel, got {bad!r}"


@pytest.fixture
def opened(svs: Path):
    with open_slide(svs) as slide:
        yield slide


def test_numpy_numbers_are_numbers(opened: SlideReader) -> None:
    expected = opened.read_rect((0, 0), (10, 10), 1.0)
    size, mpp, level = (np.int64(10), np.int32(10)), np.float32(1.0), np.int64(0)
    np.testing.assert_array_equal(opened.read_rect((0, 0), size, mpp), expected)  # type: ignore[arg-type]
    region = opened.read_region((0, 0), level, np.array([10, 10]))  # type: ignore[arg-type]
    np.testing.assert_array_equal(region, opened.read_region((0, 0), 0, (10, 10)))
    assert opened.get_thumbnail(np.int64(100)).shape == opened.get_thumbnail(100).shape  # type: ignore[arg-type]


@pytest.mark.parametrize("mpp", [0, -1, 0.0, float("nan"), float("inf"), "1.0", None, True])
def test_read_rect_mpp_must_be_a_positive_number(opened: SlideReader, mpp: object) -> None:
    with pytest.raises(ConfigError) as info:
        opened.read_rect((0, 0), (10, 10), mpp)  # type: ignore[arg-type]
    assert str(info.value) == f"mpp must be a positive number of microns per pixel, got {mpp!r}"


@pytest.mark.parametrize("size", [(0, 10), (10, -1), (10.0, 10.0), (10,), (10, 10, 3), "10", 10, (True, 10)])
def test_region_sizes_must_be_positive_whole_pixels(opened: SlideReader, size: object) -> None:
    message = f"size must be a (width, height) pair of positive whole numbers of pixels, got {size!r}"
    for read in (
        lambda: opened.read_rect((0, 0), size, 1.0),  # type: ignore[arg-type]
        lambda: opened.read_region((0, 0), 0, size),  # type: ignore[arg-type]
        lambda: opened.read_extent((0, 0), (10, 10), size),  # type: ignore[arg-type]
    ):
        with pytest.raises(ConfigError) as info:
            read()
        assert str(info.value) == message
    with pytest.raises(ConfigError, match=r"^extent must be a \(width, height\) pair"):
        opened.read_extent((0, 0), size, (10, 10))  # type: ignore[arg-type]


def test_a_region_too_large_for_one_read_is_refused_before_it_is_allocated(opened: SlideReader) -> None:
    for read in (
        lambda: opened.read_region((0, 0), 0, (100_000, 100_000)),
        lambda: opened.read_rect((0, 0), (100_000, 100_000), 1.0),
    ):
        with pytest.raises(ConfigError) as info:
            read()
        assert str(info.value).startswith("size (100000, 100000) asks for 27.9 GiB in one read (at most 4 GiB)")
    assert opened.read_region((0, 0), 0, (37_000, 1)).shape == (1, 37_000, 3)  # long and thin is fine


def test_a_path_of_another_type_is_one_config_error(svs: Path) -> None:
    with open_slide(os.fsencode(svs)) as slide:  # bytes, as os.listdir(b".") gives
        assert slide.path == svs
    with pytest.raises(ConfigError, match=r"^open_slide takes a file or folder path \(str or pathlib.Path\), got int$"):
        open_slide(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("location", [(0,), (0, 0, 0), ("0", 0), (float("nan"), 0), None, 0])
def test_locations_are_pairs_of_numbers(opened: SlideReader, location: object) -> None:
    for read in (
        lambda: opened.read_region(location, 0, (4, 4)),  # type: ignore[arg-type]
        lambda: opened.read_rect(location, (4, 4), 1.0),  # type: ignore[arg-type]
    ):
        with pytest.raises(ConfigError) as info:
            read()
        assert str(info.value) == f"location must be an (x, y) pair of level-0 pixel coordinates, got {location!r}"
    inside = opened.read_region((10.7, np.int64(20)), 0, (4, 4))  # type: ignore[arg-type]  # the pixel holding it
    np.testing.assert_array_equal(inside, opened.read_region((10, 20), 0, (4, 4)))


@pytest.mark.parametrize("level", [1, -1, 0.0, "0", None])
def test_levels_must_exist(opened: SlideReader, level: object) -> None:
    with pytest.raises(ConfigError) as info:
        opened.read_region((0, 0), level, (4, 4))  # type: ignore[arg-type]
    assert str(info.value) == f"{opened.path}: level must be a whole number from 0 to 0 (1 level), got {level!r}"


@pytest.mark.parametrize("max_size", [0, -5, 256.0, (0, 10), (10,), "256", None, True])
def test_thumbnail_size_must_be_positive_whole_pixels(opened: SlideReader, max_size: object) -> None:
    with pytest.raises(ConfigError) as info:
        opened.get_thumbnail(max_size)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"max_size must be a positive whole number of pixels or a (width, height) pair of them, got {max_size!r}"
    )


def test_a_slide_users_errors_are_exported() -> None:
    for name in ("KitError", "SlideError", "ConfigError"):
        assert name in algorithm.slide.__all__
    assert (algorithm.slide.KitError, algorithm.slide.SlideError, algorithm.slide.ConfigError) == (
        KitError,
        SlideError,
        ConfigError,
    )


def test_no_resolution_says_how_to_give_one_in_python_too(tmp_path: Path) -> None:
    Image.fromarray(blob_image(64, 48)).save(tmp_path / "patch.png")
    with open_slide(tmp_path / "patch.png") as slide, pytest.raises(SlideError) as info:
        _ = slide.mpp
    assert str(info.value).endswith(
        "give it explicitly (--mpp on the command line, open_slide(path, mpp=...) in Python)"
    )


# --- a folder: one DICOM series, nothing else -------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning:pydicom")
def test_a_dicom_folder_with_other_slides_is_refused(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(shared_data / "wsi" / "small_dicom.dcm", folder / "small_dicom.dcm")
    shutil.copy(shared_data / "wsi" / "cmu-1-small-region.svs", folder / "cmu-1.svs")
    (folder / "b.tiff").write_bytes(b"II*\x00")
    with pytest.raises(SlideError) as info:
        open_slide(folder)
    assert str(info.value) == (
        f"{folder}: a DICOM series and other slide files (b.tiff, cmu-1.svs) in one folder; a folder is read as "
        "one DICOM slide: open the other files by name, or move them out"
    )
    for name in ("b.tiff", "cmu-1.svs"):
        (folder / name).unlink()
    Image.fromarray(blob_image(64, 48)).save(folder / "thumbnail.png")  # pictures and notes beside a series
    (folder / "notes.txt").write_text("scanner notes")
    with open_slide(folder) as slide:
        assert slide.backend == "pydicom"


# --- the process's logging and warnings are the user's --------------------------------------------------


def test_importing_and_reading_leave_logging_and_warnings_as_they_were(shared_data: Path) -> None:
    code = f"""
import logging, warnings
levels = {{name: logging.getLogger(name).level for name in ("tifffile", "pydicom")}}
import pydicom, pydicom.pixels, pydicom.encaps  # its own import sets its logger's level
levels["pydicom"] = logging.getLogger("pydicom").level
import algorithm.slide
filters = list(warnings.filters)
with algorithm.slide.open_slide({str(shared_data / "wsi" / "small_dicom.dcm")!r}) as slide:
    slide.get_thumbnail(256)
with algorithm.slide.open_slide({str(shared_data / "wsi" / "tcga-cr-7395-01a-01-ts1.svs")!r}, mpp=0.25) as slide:
    slide.read_region((0, 0), 1, (300, 300))
assert {{name: logging.getLogger(name).level for name in levels}} == levels
assert warnings.filters == filters, [f for f in warnings.filters if f not in filters]
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def _odd_tiff(path: Path) -> Path:
    """A readable TIFF with a tag of unknown data type, which tifffile logs when it parses it."""
    tifffile.imwrite(
        path, blob_image(64, 48), photometric="rgb", extratags=[(65000, "s", 0, "note", True)], metadata=None
    )
    data = bytearray(path.read_bytes())
    first = int.from_bytes(data[4:8], "little")
    for entry in range(first + 2, first + 2 + 12 * int.from_bytes(data[first : first + 2], "little"), 12):
        if int.from_bytes(data[entry : entry + 2], "little") == 65000:
            data[entry + 2 : entry + 4] = (99).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    return path


def test_tifffile_is_quiet_in_the_kits_reads_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _odd_tiff(tmp_path / "odd.tif")
    with caplog.at_level(logging.DEBUG):
        with open_slide(path, mpp=0.5) as slide:  # tifffile's reader: OpenSlide refuses a stripped TIFF
            assert slide.backend == "tifffile"
            slide.read_region((0, 0), 0, (64, 48))
        assert not [r for r in caplog.records if r.name.startswith("tifffile")]
        with tifffile.TiffFile(path) as tif:  # the user's own call: tifffile says what it found
            _ = tif.series
    assert [r.name for r in caplog.records if "invalid data type 99" in r.getMessage()] == ["tifffile"]


def test_pydicom_is_quiet_in_the_kits_reads_only(shared_data: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = shared_data / "wsi" / "small_dicom.dcm"
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_slide(path) as slide:
            slide.read_region((0, 0), 0, slide.dimensions)  # every frame: JFIF markers under "RGB"
        assert not [r for r in caplog.records if r.name.startswith("pydicom") and r.levelno < logging.ERROR]
        assert not caught
        import pydicom

        _ = pydicom.dcmread(path).pixel_array  # the user's own call: pydicom logs and warns as it always does
    assert [r.name for r in caplog.records if "JFIF" in r.getMessage()] == ["pydicom"]
    assert [w.category for w in caught if "JFIF" in str(w.message)] == [UserWarning]


def test_quiet_is_per_thread_for_logs_and_removes_only_its_own_warning_filter() -> None:
    import threading

    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger = logging.getLogger("tifffile")
    handler = Keep()
    logger.addHandler(handler)
    try:
        before = list(warnings.filters)
        inside, done = threading.Event(), threading.Event()

        def kit() -> None:
            with quiet("tifffile", hide_warnings=True):
                logging.getLogger("tifffile").warning("kit thread")
                inside.set()
                done.wait(5)

        thread = threading.Thread(target=kit)
        thread.start()
        inside.wait(5)
        logger.warning("user thread")  # another thread, meanwhile: shown
        done.set()
        thread.join()
        assert seen == ["user thread"]
        assert warnings.filters == before
    finally:
        logger.removeHandler(handler)
