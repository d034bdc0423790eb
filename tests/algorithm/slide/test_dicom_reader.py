"""DicomReader: DICOM whole-slide images, checked against the tags and pixels as pydicom reads them itself."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

from algorithm.errors import SlideError
from algorithm.slide import open_slide
from algorithm.slide.dicom_reader import WSI_STORAGE, DicomReader
from tests.conftest import REPO, blob_image, shrink

# the real file's over-long strings and its JFIF frames under "RGB": pydicom warns, the reader does not mind
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")


def _dcmread(path: Path, **kwargs) -> Dataset:
    with warnings.catch_warnings():  # the real file's over-long strings
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, **kwargs)


@pytest.fixture(scope="module")
def real(shared_data: Path) -> Path:
    return shared_data / "wsi" / "small_dicom.dcm"


@pytest.fixture(scope="module")
def real_frames(real: Path) -> np.ndarray:
    """Every frame of the real file as pydicom decodes the whole pixel data itself: (42, 500, 500, 3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _dcmread(real).pixel_array


def _mosaic(frames: np.ndarray, columns: int, rows: int, by_column: bool) -> np.ndarray:
    """Frames laid on a tile grid, row by row (TILED_FULL's order) or column by column."""
    th, tw = frames.shape[1:3]
    grid = frames.reshape(*((columns, rows) if by_column else (rows, columns)), th, tw, 3)
    if by_column:
        grid = grid.transpose(1, 0, 2, 3, 4)
    return grid.transpose(0, 2, 1, 3, 4).reshape(rows * th, columns * tw, 3)


def _seam_step(image: np.ndarray, tile: int) -> float:
    """Mean step in value across the tile borders (large where tiles do not join)."""
    image = image.astype(np.int16)
    steps = [np.abs(image[:, x - 1] - image[:, x]).mean() for x in range(tile, image.shape[1], tile)]
    steps += [np.abs(image[y - 1] - image[y]).mean() for y in range(tile, image.shape[0], tile)]
    return float(np.mean(steps))


@pytest.fixture(scope="module")
def real_image(real: Path, real_frames: np.ndarray) -> np.ndarray:
    """The real slide's level 0 from pydicom's frames. The file states no tile order (no TILED_FULL, no
    per-frame positions); its tiles join only when laid column by column, which this checks first."""
    ds = _dcmread(real, stop_before_pixels=True)
    assert "DimensionOrganizationType" not in ds and "PerFrameFunctionalGroupsSequence" not in ds
    width, height, tile = int(ds.TotalPixelMatrixColumns), int(ds.TotalPixelMatrixRows), int(ds.Columns)
    columns, rows = -(-width // tile), -(-height // tile)
    by_column = _mosaic(real_frames, columns, rows, by_column=True)[:height, :width]
    by_row = _mosaic(real_frames, columns, rows, by_column=False)[:height, :width]
    assert _seam_step(by_column, tile) * 5 < _seam_step(by_row, tile)
    assert _seam_step(by_column, tile) < 2 * np.abs(np.diff(by_column.astype(np.int16), axis=1)).mean()
    return by_column


# --- the real file ------------------------------------------------------------------


def test_real_file_size_levels_and_resolution_come_from_its_tags(real: Path) -> None:
    ds = _dcmread(real, stop_before_pixels=True)
    assert ds.SOPClassUID == WSI_STORAGE
    with open_slide(real) as slide:
        assert isinstance(slide, DicomReader) and slide.backend == "pydicom"
        assert slide.dimensions == (int(ds.TotalPixelMatrixColumns), int(ds.TotalPixelMatrixRows)) == (3236, 2638)
        assert slide.level_count == 1  # one instance, one level
        tiles = slide.native_tiles()
        assert tiles is not None
        assert tiles.tile_size(0) == (int(ds.Columns), int(ds.Rows)) == (500, 500)
        assert tiles.tile_grid(0) == (7, 6) and int(ds.NumberOfFrames) == 42
        # No Pixel Spacing anywhere, so no resolution. The Imaged Volume (15 x 15 mm) is a placeholder:
        # over 3236 x 2638 pixels it would make pixels 4.6 um wide and 5.7 um tall.
        assert not any(
            k in ds for k in ("PixelSpacing", "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")
        )
        assert float(ds.ImagedVolumeWidth) / ds.TotalPixelMatrixColumns < 0.85 * (
            float(ds.ImagedVolumeHeight) / ds.TotalPixelMatrixRows
        )
        assert not slide.has_mpp
        with pytest.raises(SlideError, match=r"small_dicom\.dcm: the file has no resolution.*--mpp"):
            _ = slide.mpp
    with open_slide(real, mpp=0.5) as slide:
        assert slide.mpp == (0.5, 0.5)


def test_real_file_regions_equal_pydicoms_frames(real: Path, real_image: np.ndarray) -> None:
    height, width = real_image.shape[:2]
    with open_slide(real) as slide:
        np.testing.assert_array_equal(slide.read_region((0, 0), 0, (width, height)), real_image)
        rng = np.random.default_rng(0)
        for _ in range(10):
            w, h = int(rng.integers(1, 900)), int(rng.integers(1, 900))
            x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            np.testing.assert_array_equal(slide.read_region((x, y), 0, (w, h)), real_image[y : y + h, x : x + w])
        past = slide.read_region((width - 100, height - 50), 0, (300, 200))  # past the edge: glass
        np.testing.assert_array_equal(past[:50, :100], real_image[-50:, -100:])
        assert (past[50:] == 255).all() and (past[:, 100:] == 255).all()


def test_real_file_stored_tiles_are_its_frames(real: Path, real_frames: np.ndarray) -> None:
    with open_slide(real) as slide:
        tiles = slide.native_tiles()
        assert tiles is not None and tiles.level_count == 1
        for column, row in [(0, 0), (3, 2), (6, 5), (6, 0), (0, 5)]:
            np.testing.assert_array_equal(tiles.decode(0, column, row), real_frames[column * 6 + row])
        assert tiles.tiles_under(0, 499, 0, 2, 1) == [(0, 0), (1, 0)]
        with pytest.raises(IndexError):
            tiles.decode(0, 7, 0)
        with pytest.raises(SlideError, match="not inside"):
            tiles.read_region(0, 3200, 0, 37, 10)
    assert slide.native_tiles() is None  # closed


def test_real_file_reads_from_many_threads(real: Path, real_image: np.ndarray) -> None:
    regions = [(x, y) for y in range(0, 2400, 450) for x in range(0, 3000, 450)]
    with open_slide(real) as slide:
        assert slide.concurrent_reads
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda xy: slide.read_region(xy, 0, (300, 300)), regions))
    for (x, y), region in zip(regions, got, strict=True):
        np.testing.assert_array_equal(region, real_image[y : y + 300, x : x + 300])


def test_the_tile_engine_reads_each_frame_once(real: Path, real_image: np.ndarray) -> None:
    from algorithm.engine.reading import RegionReader
    from algorithm.tiling.grid import Tile, TileGrid

    with open_slide(real) as slide:
        origins = [(x, y) for y in range(0, 2638, 448) for x in range(0, 3236, 448)]  # overlapping, past the edge
        tiles = tuple(Tile(i, x, y, (512, 512), (512, 512), 1.0) for i, (x, y) in enumerate(origins))
        grid = TileGrid(tiles=tiles, tile_size=512, overlap=64, scale=1.0, level=0, candidates=len(tiles))
        reader = RegionReader(slide, grid)
        assert reader.native is not None and reader.concurrent
        for tile in tiles:
            region = reader.read_tile(tile)
            expected = np.full((512, 512, 3), 255, np.uint8)
            part = real_image[tile.y : tile.y + 512, tile.x : tile.x + 512]
            expected[: part.shape[0], : part.shape[1]] = part
            np.testing.assert_array_equal(region, expected)
        assert reader.decoded == 42 and reader.cached == 0


def test_a_folder_holding_the_file_is_the_same_slide(real: Path, real_image: np.ndarray, tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    shutil.copy(real, folder / "level-0")  # no suffix: found by its DICM marker
    (folder / "README.txt").write_text("not DICOM")
    with open_slide(folder) as slide:
        assert slide.dimensions == (3236, 2638) and slide.level_count == 1
        np.testing.assert_array_equal(slide.read_region((400, 300), 0, (700, 500)), real_image[300:800, 400:1100])


def test_pydicom_is_imported_only_when_a_dicom_is_opened(real: Path) -> None:
    code = (
        "import sys\nimport algorithm.slide\nloaded = [m for m in sys.modules if m.split('.')[0] == 'pydicom']\n"
        "assert not loaded, loaded\n"
        f"algorithm.slide.open_slide({str(real)!r}).close()\nassert 'pydicom' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- a written series: a pyramid with resolution, sparse tiles, a label ----------


def _write_instance(
    path: Path,
    frames: list[np.ndarray],
    size: tuple[int, int],
    series: str,
    number: int,
    *,
    image_type: str = "VOLUME",
    positions: list[tuple[int, int]] | None = None,
    spacing_mm: float | None = None,
    jpeg: bool = False,
    stated: bool = True,
) -> Path:
    """A VL Whole Slide Microscopy instance: TILED_FULL unless ``positions`` (1-based pixel
    positions of each frame, TILED_SPARSE) are given, or neither if not ``stated``; uncompressed,
    or JPEG baseline (YBR 4:2:2)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(WSI_STORAGE)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit if jpeg else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = WSI_STORAGE, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = "1.2.3", series, "SM"
    ds.ImageType, ds.InstanceNumber = ["DERIVED", "PRIMARY", image_type, "NONE"], number
    ds.Rows, ds.Columns = frames[0].shape[:2]
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PhotometricInterpretation = "YBR_FULL_422" if jpeg else "RGB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = len(frames)
    ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = size
    if spacing_mm is not None:
        measures = Dataset()
        measures.PixelSpacing = [spacing_mm, spacing_mm]
        shared = Dataset()
        shared.PixelMeasuresSequence = [measures]
        ds.SharedFunctionalGroupsSequence = [shared]
    if positions is None:
        if stated:
            ds.DimensionOrganizationType = "TILED_FULL"
    else:
        ds.DimensionOrganizationType = "TILED_SPARSE"
        items = []
        for column, row in positions:
            where = Dataset()
            where.ColumnPositionInTotalImagePixelMatrix, where.RowPositionInTotalImagePixelMatrix = column, row
            where.XOffsetInSlideCoordinateSystem = where.YOffsetInSlideCoordinateSystem = 0
            where.ZOffsetInSlideCoordinateSystem = 0
            item = Dataset()
            item.PlanePositionSlideSequence = [where]
            items.append(item)
        ds.PerFrameFunctionalGroupsSequence = items
    if jpeg:
        encoded = []
        for frame in frames:
            buffer = io.BytesIO()
            Image.fromarray(frame).save(buffer, "JPEG", quality=90, subsampling=1)
            encoded.append(buffer.getvalue())
        ds.PixelData = encapsulate(encoded)
    else:
        ds.PixelData = b"".join(np.ascontiguousarray(f).tobytes() for f in frames)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def _tiles_of(image: np.ndarray, tile: int) -> dict[tuple[int, int], np.ndarray]:
    """``(column, row)`` -> the tile, padded with black at the edges as scanners pad."""
    h, w = image.shape[:2]
    out = {}
    for row in range(-(-h // tile)):
        for column in range(-(-w // tile)):
            frame = np.zeros((tile, tile, 3), np.uint8)
            part = image[row * tile : (row + 1) * tile, column * tile : (column + 1) * tile]
            frame[: part.shape[0], : part.shape[1]] = part
            out[(column, row)] = frame
    return out


@pytest.fixture()
def series(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A folder: level 0 uncompressed TILED_FULL with 0.25 um pixels, level 1 JPEG TILED_SPARSE with
    one tile not stored, a label, and a file that is no DICOM. Returns it with the two levels' pixels
    (level 1's as pydicom decodes the written file's frames, glass where nothing is stored)."""
    folder = tmp_path / "series"
    folder.mkdir()
    uid = generate_uid()
    image = blob_image(600, 400)
    tiles = _tiles_of(image, 128)  # 5 x 4, row by row below
    _write_instance(
        folder / "level0.dcm",
        [tiles[(c, r)] for r in range(4) for c in range(5)],
        (600, 400),
        uid,
        1,
        spacing_mm=0.00025,
    )
    small = shrink(image, 2)  # 300 x 200
    small_tiles = _tiles_of(small, 128)  # 3 x 2; (1, 1) not stored; stored out of order
    keys = [(2, 1), (0, 0), (1, 0), (2, 0), (0, 1)]
    level1 = _write_instance(
        folder / "level1.dcm",
        [small_tiles[k] for k in keys],
        (300, 200),
        uid,
        2,
        positions=[(c * 128 + 1, r * 128 + 1) for c, r in keys],
        spacing_mm=0.0005,
        jpeg=True,
    )
    _write_instance(folder / "label.dcm", [np.zeros((64, 96, 3), np.uint8)], (96, 64), uid, 3, image_type="LABEL")
    (folder / "notes.txt").write_text("scanner notes")
    ds = _dcmread(level1)
    decoded = [pydicom.pixels.pixel_array(level1, index=i) for i in range(len(keys))]
    expected1 = np.full((256, 384, 3), 255, np.uint8)
    for (c, r), frame in zip(keys, decoded, strict=True):
        expected1[r * 128 : (r + 1) * 128, c * 128 : (c + 1) * 128] = frame
    assert ds.NumberOfFrames == 5
    return folder, image, expected1[:200, :300]


def test_series_folder_is_one_pyramid(series) -> None:
    folder, image, level1 = series
    with open_slide(folder) as slide:
        assert slide.level_dimensions == ((600, 400), (300, 200))  # the label is not a level
        assert slide.level_downsamples == pytest.approx((1.0, 2.0))
        assert slide.mpp == pytest.approx((0.25, 0.25))  # level 0's Pixel Spacing, mm -> um
        np.testing.assert_array_equal(slide.read_region((0, 0), 0, (600, 400)), image)
        np.testing.assert_array_equal(slide.read_region((0, 0), 1, (300, 200)), level1)
        assert (slide.read_region((256, 256), 1, (128, 72)) == 255).all()  # the tile not stored: glass
        tiles = slide.native_tiles()
        assert tiles is not None
        np.testing.assert_array_equal(tiles.decode(1, 2, 1)[:72, :44], level1[128:, 256:])
        assert slide.best_level_for_downsample(3.0) == 1


@pytest.mark.parametrize("by_column", [False, True])
def test_an_unstated_tile_order_is_the_one_whose_tiles_join(tmp_path: Path, by_column: bool) -> None:
    image = blob_image(600, 400, seed=3)
    tiles = _tiles_of(image, 128)  # 5 x 4
    order = [(c, r) for c in range(5) for r in range(4)] if by_column else [(c, r) for r in range(4) for c in range(5)]
    path = _write_instance(
        tmp_path / "unstated.dcm", [tiles[k] for k in order], (600, 400), generate_uid(), 1, stated=False
    )
    assert "DimensionOrganizationType" not in _dcmread(path, stop_before_pixels=True)
    with open_slide(path) as slide:
        np.testing.assert_array_equal(slide.read_region((0, 0), 0, (600, 400)), image)


def test_one_instance_of_a_series_opens_alone(series) -> None:
    folder, image, _ = series
    with open_slide(folder / "level0.dcm") as slide:
        assert slide.level_dimensions == ((600, 400),)
        np.testing.assert_array_equal(slide.read_region((130, 70), 0, (300, 200)), image[70:270, 130:430])


# --- what is not a slide, and damaged files: one SlideError naming the file ----------


def _one_line_error(path: Path, *words: str) -> str:
    with pytest.raises(SlideError) as info, open_slide(path) as slide:
        slide.read_region((0, 0), 0, slide.dimensions)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message
    return message


def test_truncated_copies(real: Path, tmp_path: Path) -> None:
    data = real.read_bytes()
    for name, end in [("half.dcm", len(data) // 2), ("last-byte.dcm", len(data) - 1), ("header.dcm", 1000)]:
        path = tmp_path / name
        path.write_bytes(data[:end])
        _one_line_error(path, "truncated")


def _damage_frame(path: Path, frame: bytes) -> None:
    """Overwrite the start of one encoded frame: no JPEG start marker any more."""
    data = bytearray(path.read_bytes())
    at = bytes(data).find(frame)
    assert at > 0
    data[at : at + 64] = bytes(64)
    path.write_bytes(bytes(data))


def test_a_damaged_frame_of_the_real_file(real: Path, tmp_path: Path) -> None:
    path = tmp_path / "damaged.dcm"
    shutil.copy(real, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = list(generate_frames(_dcmread(real).PixelData, number_of_frames=42))[13]
    _damage_frame(path, frame)
    _one_line_error(path, "cannot decode frame 14", "corrupt")


def test_a_damaged_frame_fails_when_read(series) -> None:
    folder, _, level1 = series
    path = folder / "level1.dcm"
    _damage_frame(path, next(generate_frames(_dcmread(path).PixelData, number_of_frames=5)))  # tile (2, 1)
    with open_slide(folder) as slide:  # the probe decodes one tile of the last level
        np.testing.assert_array_equal(slide.read_region((0, 0), 1, (256, 128)), level1[:128, :256])
        with pytest.raises(SlideError, match=r"level1\.dcm: cannot decode frame 1: .*corrupt") as info:
            slide.read_region((512, 256), 1, (10, 10))
        assert "\n" not in str(info.value)


def test_not_dicom_and_not_a_slide(tmp_path: Path) -> None:
    noise = tmp_path / "noise.dcm"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    _one_line_error(noise, "not a DICOM file")
    png = tmp_path / "picture.dcm"
    Image.fromarray(blob_image(64, 64)).save(png, "PNG")
    _one_line_error(png, "not a DICOM file")

    ct = tmp_path / "ct.dcm"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta, ds.SOPClassUID, ds.SOPInstanceUID = meta, CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.save_as(ct, enforce_file_format=True)
    _one_line_error(ct, "CT Image Storage", "not a whole-slide image")

    folder = tmp_path / "ct-only"
    folder.mkdir()
    shutil.copy(ct, folder / "ct.dcm")
    _one_line_error(folder, "no DICOM whole-slide image")


def test_a_label_alone_is_not_a_slide(tmp_path: Path) -> None:
    label = _write_instance(
        tmp_path / "label.dcm", [np.zeros((64, 96, 3), np.uint8)], (96, 64), generate_uid(), 1, image_type="LABEL"
    )
    _one_line_error(label, "label image")


def test_two_slides_in_one_folder_are_refused(series) -> None:
    folder = series[0]
    _write_instance(folder / "other.dcm", [np.zeros((128, 128, 3), np.uint8)], (128, 128), generate_uid(), 1)
    _one_line_error(folder, "2 DICOM series")


def test_the_command_line_gives_one_line_and_writes_nothing(real: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "input" / "slide.dcm"
    truncated.parent.mkdir()
    truncated.write_bytes(real.read_bytes()[:700_000])
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "algorithm",
            "--task",
            "all",
            "--device",
            "cpu",
            "--input",
            str(truncated),
            "--output",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 1
    assert errors == [f"error: {truncated}: {errors[0].split(': ', 2)[2]}"] and "truncated" in errors[0]
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.rglob("*"))
