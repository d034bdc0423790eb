"""DICOM whole-slide images (VL Whole Slide Microscopy): one ``.dcm`` file or a series folder.

grand-challenge accepts DICOM uploads. OpenSlide 4.0 refuses the kit's real
test file ("Couldn't get image flavor": it has no Image Type), and wsidicom
0.36 refuses it too (no Image Type, and tile positions it does not state). So
pydicom reads the headers and decodes each frame with its pixel handlers
(Pillow for JPEG and JPEG 2000, its own code for RLE and uncompressed data),
which apply DICOM's colour rules (YBR or RGB, JFIF markers).

Layout: each instance (file) is a pyramid level, or part of one (a
concatenation); the largest level is level 0. Labels, overviews and thumbnails
are skipped, and only the first focal plane and optical path are read. Frames
are the stored tiles: every frame is located once, at open, so a truncated file
fails then. Frames are read with ``os.pread`` and decoded by pydicom, which makes
a new decoding state for each call. So threads read and decode at once without
a lock.

Tile positions come from the TILED_FULL order or the per-frame positions. An
instance that states neither leaves the order undefined (PS3.3 C.7.6.17.3).
The kit's test file is one; a pydicom script wrote its tiles column by column.
For those, the reader compares a sample of tile borders under both orders,
row by row (TILED_FULL's) and column by column, and keeps the one whose tiles
join.

pydicom is imported when the first DICOM is opened, not with ``algorithm.slide``.
"""

from __future__ import annotations

import bisect
import functools
import math
import os
import struct
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from algorithm.errors import SlideError
from algorithm.slide.base import WHITE, SlideReader
from algorithm.slide.quiet import quiet
from algorithm.slide.stored_tiles import StoredTiles

if TYPE_CHECKING:
    from pydicom import Dataset

DICOM_SUFFIX = ".dcm"
WSI_STORAGE = "1.2.840.10008.5.1.4.1.1.77.1.6"  # VL Whole Slide Microscopy Image Storage
_NOT_PYRAMID = ("LABEL", "OVERVIEW", "THUMBNAIL")  # Image Type value 3 of the slide's other pictures
_COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT")  # pydicom returns these as RGB
_ITEM, _SEQUENCE_END, _UNDEFINED = 0xFFFEE000, 0xFFFEE0DD, 0xFFFFFFFF
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010), little endian
_ORDER_SAMPLES = 16  # grid positions whose borders decide an unstated tile order


def is_dicom_file(path: Path) -> bool:
    """A ``.dcm`` name, or the ``DICM`` marker after the 128-byte preamble (exports often have no suffix)."""
    if path.name.lower().endswith(DICOM_SUFFIX):
        return True
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def is_dicom_folder(path: Path) -> bool:
    """Whether a folder holds DICOM files: one slide's instances, as PACS exports store a series."""
    try:
        return any(p.is_file() and is_dicom_file(p) for p in path.iterdir())
    except OSError:
        return False


@functools.cache
def _pydicom() -> Any:
    """pydicom, imported on first use. Its warnings about non-conformant values (over-long strings, a JFIF
    marker under Photometric Interpretation RGB) are not the user's to act on: the reader's calls into it
    are made inside :func:`_quiet`, and a program's own use of pydicom is left as it is."""
    import pydicom
    import pydicom.encaps
    import pydicom.pixels

    return pydicom


def _quiet() -> AbstractContextManager[None]:
    """pydicom's log records (below ERROR) and UserWarnings hidden while the reader calls it (see ``quiet``)."""
    return quiet("pydicom", hide_warnings=True)


class DicomReader(SlideReader):
    """A DICOM whole-slide image (one file or a series folder), its instances' frames read as stored tiles."""

    backend = "pydicom"
    concurrent_reads = True  # positional reads, and pydicom decodes each call with its own state

    def __init__(self, path: Path, mpp_override: tuple[float, float] | None = None) -> None:
        super().__init__(path, mpp_override)
        folder = self.path.is_dir()
        files = _series_files(self.path) if folder else [self.path]
        instances: list[_Instance] = []
        try:
            with _quiet():  # pydicom converts header values when they are first read, warning about odd ones
                for file in files:
                    instance = _read_instance(file, in_folder=folder)
                    if instance is not None:
                        instances.append(instance)
                levels = _pyramid(self.path, instances)
                self._spacing = _pixel_spacing(levels[0].dataset)
        except BaseException:
            for instance in instances:
                instance.frames.close()
            raise
        self._tiles: DicomTiles | None = DicomTiles(self.path, levels, [i.frames for i in instances])
        self._levels = tuple((lv.width, lv.height) for lv in levels)

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """Every level's ``(width, height)``: its total pixel matrix."""
        return self._levels

    def _native_mpp(self) -> tuple[float, float] | None:
        return self._spacing

    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> NDArray[np.uint8]:
        return self._open_tiles().read_region(level, x, y, width, height)

    def native_tiles(self) -> DicomTiles | None:
        """The frames as stored tiles, so the engine decodes each once."""
        return self._tiles

    def _open_tiles(self) -> DicomTiles:
        if self._tiles is None:
            raise SlideError(f"{self.path}: the slide is closed")
        return self._tiles

    def _release(self) -> None:
        tiles, self._tiles = self._tiles, None
        if tiles is not None:
            tiles.close()


# --- frames of one instance ---------------------------------------------------


class _Frames:
    """One instance's frames: where each lies in its file, and how pydicom decodes it; thread-safe."""

    def __init__(self, path: Path, dataset: Dataset, start: int, size: int) -> None:
        pydicom = _pydicom()
        self.path = path
        syntax = pydicom.uid.UID(str(dataset.file_meta.get("TransferSyntaxUID", "")))
        if not syntax.is_transfer_syntax or not syntax.is_little_endian or syntax.is_deflated:
            raise SlideError(f"{path}: transfer syntax {syntax.name or '(none)'} is not supported")
        try:
            self._decoder = pydicom.pixels.get_decoder(syntax)
        except NotImplementedError as exc:
            raise SlideError(f"{path}: pydicom cannot decode {syntax.name} pixel data") from exc
        if not self._decoder.is_available:
            raise SlideError(
                f"{path}: no decoder for {syntax.name} pixel data is installed "
                f"({'; '.join(self._decoder.missing_dependencies)})"
            )
        self.jpeg = syntax == pydicom.uid.JPEGBaseline8Bit  # each frame a whole baseline JPEG stream
        self._encapsulate: Callable[[list[bytes]], bytes] = pydicom.encaps.encapsulate
        self._encapsulated = syntax.is_encapsulated
        self.tile_width, self.tile_height, self._options = _pixel_options(path, dataset)
        self.count = _int(dataset, "NumberOfFrames", 1)
        if self.count < 1:
            raise SlideError(f"{path}: Number of Frames is {self.count}; the image has no pixels")
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._lock = threading.Lock()  # only where os.pread is missing (Windows)
        try:
            self._spans = self._locate(dataset, start, size, syntax.is_implicit_VR)
        except BaseException:
            self.close()
            raise

    def _locate(self, dataset: Dataset, start: int, size: int, implicit: bool) -> list[tuple[tuple[int, int], ...]]:
        """Each frame's byte ranges (one per fragment); raises SlideError where the file ends too early."""
        head = self._pread(12, start)
        if len(head) < 12 or head[:4] != _PIXEL_DATA_TAG:
            where = f"holds other data at byte {start}" if len(head) == 12 else "ends before it"
            raise SlideError(f"{self.path}: no pixel data: the file {where} (truncated, or not an image)")
        if implicit:  # tag, 4-byte length
            length, value = struct.unpack("<L", head[4:8])[0], start + 8
        else:  # tag, VR, 2 reserved bytes, 4-byte length
            length, value = struct.unpack("<L", head[8:12])[0], start + 12
        if not self._encapsulated:
            frame_bytes = self.tile_width * self.tile_height * _bytes_per_pixel(self._options)
            need = frame_bytes * self.count
            if length == _UNDEFINED or length < need or value + need > size:
                raise SlideError(
                    f"{self.path}: the pixel data needs {need} bytes at byte {value} but the file "
                    f"ends first (the file is truncated)"
                )
            return [((value + i * frame_bytes, frame_bytes),) for i in range(self.count)]
        if length != _UNDEFINED:
            raise SlideError(f"{self.path}: compressed pixel data of defined length (the file is corrupt)")
        offsets, fragments = self._fragments(value, size)
        if "ExtendedOffsetTable" in dataset:
            offsets = np.frombuffer(dataset.ExtendedOffsetTable, dtype="<u8").tolist()
        if len(fragments) == self.count:
            return [((at + 8, n),) for at, n in fragments]
        if self.count == 1 and fragments:
            return [tuple((at + 8, n) for at, n in fragments)]
        if len(offsets) != self.count or len(fragments) < self.count:
            raise SlideError(
                f"{self.path}: {len(fragments)} pixel data fragments for {self.count} frames and no "
                f"offset table to tell them apart (the file is truncated or corrupt)"
            )
        first = fragments[0][0]
        starts = [at - first for at, _ in fragments]
        frames: list[tuple[tuple[int, int], ...]] = []
        for i, offset in enumerate(offsets):
            lo = bisect.bisect_left(starts, offset)
            hi = bisect.bisect_left(starts, offsets[i + 1]) if i + 1 < len(offsets) else len(starts)
            if lo >= hi or starts[lo] != offset:
                raise SlideError(
                    f"{self.path}: the offset table points frame {i + 1} at no fragment (the file is corrupt)"
                )
            frames.append(tuple((at + 8, n) for at, n in fragments[lo:hi]))
        return frames

    def _fragments(self, at: int, size: int) -> tuple[list[int], list[tuple[int, int]]]:
        """The basic offset table and every fragment's (item position, length), checked against the file's size."""
        table: list[int] | None = None
        fragments: list[tuple[int, int]] = []
        while True:
            head = self._pread(8, at)
            if len(head) < 8:
                raise SlideError(
                    f"{self.path}: the pixel data stops at byte {at} without its end marker "
                    f"({len(fragments)} fragments read; the file is truncated)"
                )
            group, element, length = struct.unpack("<HHL", head)
            tag = group << 16 | element
            if tag == _SEQUENCE_END:
                break
            if tag != _ITEM or length == _UNDEFINED:
                raise SlideError(
                    f"{self.path}: unexpected data at byte {at} inside the pixel data (the file is corrupt)"
                )
            if at + 8 + length > size:
                raise SlideError(
                    f"{self.path}: a pixel data fragment at byte {at} needs {length} bytes but the file "
                    f"ends first (the file is truncated)"
                )
            if table is None:
                table = list(struct.unpack(f"<{length // 4}L", self._pread(length // 4 * 4, at + 8)))
            else:
                fragments.append((at, length))
            at += 8 + length
        return table or [], fragments

    def read(self, index: int) -> bytes:
        """Frame ``index``'s encoded bytes, its fragments joined."""
        chunks = [self._pread(length, offset) for offset, length in self._spans[index]]
        if any(len(c) < n for c, (_, n) in zip(chunks, self._spans[index], strict=True)):
            raise SlideError(f"{self.path}: frame {index + 1} is cut short (the file was truncated after opening)")
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def decode(self, index: int) -> NDArray[np.uint8]:
        """Frame ``index`` as RGB ``(tile_height, tile_width, 3)``; SlideError names the file and frame."""
        data = self.read(index)
        try:
            with _quiet():
                array, _ = self._decoder.as_array(
                    self._encapsulate([data]) if self._encapsulated else data, index=0, **self._options
                )
        except Exception as exc:  # pydicom and its plugins (Pillow, numpy) raise many kinds
            why = " ".join(line.strip() for line in str(exc).splitlines())  # pydicom lists each plugin's failure
            raise SlideError(f"{self.path}: cannot decode frame {index + 1}: {why} (the file is corrupt)") from exc
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=2)
        if array.shape != (self.tile_height, self.tile_width, 3) or array.dtype != np.uint8:
            raise SlideError(
                f"{self.path}: frame {index + 1} decodes to {array.shape} {array.dtype}, not "
                f"{self.tile_width} x {self.tile_height} 8-bit pixels (the file is corrupt)"
            )
        return array

    def _pread(self, count: int, offset: int) -> bytes:
        if hasattr(os, "pread"):
            return os.pread(self._fd, count, offset)
        with self._lock:
            os.lseek(self._fd, offset, os.SEEK_SET)
            return os.read(self._fd, count)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


def _pixel_options(path: Path, ds: Dataset) -> tuple[int, int, dict[str, Any]]:
    """Frame size and pydicom's decoding options; 8-bit RGB, YBR or grey only (what brightfield slides are)."""
    try:
        options: dict[str, Any] = {
            "rows": int(ds.Rows),
            "columns": int(ds.Columns),
            "samples_per_pixel": int(ds.SamplesPerPixel),
            "bits_allocated": int(ds.BitsAllocated),
            "bits_stored": int(ds.BitsStored),
            "pixel_representation": int(ds.get("PixelRepresentation", 0)),
            "photometric_interpretation": str(ds.PhotometricInterpretation),
            "number_of_frames": 1,
            "pixel_keyword": "PixelData",
        }
    except (AttributeError, TypeError, ValueError) as exc:
        raise SlideError(f"{path}: incomplete image description: {exc} (the file is truncated or corrupt)") from exc
    photometric = options["photometric_interpretation"]
    samples = options["samples_per_pixel"]
    if options["bits_allocated"] != 8 or options["pixel_representation"] != 0:
        raise SlideError(f"{path}: {options['bits_allocated']}-bit samples; only 8-bit unsigned are supported")
    if not ((samples == 3 and photometric in _COLOUR) or (samples == 1 and photometric == "MONOCHROME2")):
        raise SlideError(f"{path}: {photometric} with {samples} samples per pixel; expected RGB, YBR or grey")
    if options["rows"] <= 0 or options["columns"] <= 0:
        raise SlideError(f"{path}: frames of {options['columns']} x {options['rows']} pixels")
    if samples > 1:
        options["planar_configuration"] = int(ds.get("PlanarConfiguration", 0))
    return options["columns"], options["rows"], options


def _bytes_per_pixel(options: dict[str, Any]) -> int:
    """Uncompressed bytes per pixel; YBR_FULL_422 shares one Cb and Cr between two pixels."""
    if options["photometric_interpretation"] == "YBR_FULL_422":
        return 2
    return int(options["samples_per_pixel"])


# --- instances and the pyramid ------------------------------------------------


@dataclass
class _Instance:
    path: Path
    dataset: Dataset
    frames: _Frames


@dataclass
class _Level:
    width: int
    height: int
    tile_width: int
    tile_height: int
    columns: int
    rows: int
    grid: NDArray[np.int64]  # (rows, columns): index into ``tiles``, -1 where nothing is stored (glass)
    tiles: list[tuple[_Frames, int]]  # (instance's frames, frame index)
    dataset: Dataset  # the first instance's header (resolution)


def _series_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_dicom_file(p))
    if not files:
        raise SlideError(f"{folder}: a folder with no DICOM file in it, not a slide")
    return files


def _read_instance(path: Path, in_folder: bool) -> _Instance | None:
    """An instance of the slide's pyramid; another DICOM object in a series folder gives None."""
    pydicom = _pydicom()
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            dataset = pydicom.dcmread(fh, stop_before_pixels=True)  # inside the caller's _quiet()
            start = fh.tell()
    except pydicom.errors.InvalidDicomError as exc:
        raise SlideError(f"{path}: not a DICOM file (no 'DICM' marker after the 128-byte preamble)") from exc
    except Exception as exc:  # pydicom raises many kinds on damaged headers
        raise SlideError(f"{path}: cannot read the DICOM header: {exc} (the file is corrupt or truncated)") from exc
    sop = str(dataset.get("SOPClassUID") or dataset.file_meta.get("MediaStorageSOPClassUID") or "")
    if sop != WSI_STORAGE:
        if in_folder:
            return None
        name = pydicom.uid.UID(sop).name if sop else "unknown"
        raise SlideError(f"{path}: a DICOM object of class {name!r}, not a whole-slide image")
    image_type = dataset.get("ImageType") or []
    image_type = [str(v).upper() for v in ([image_type] if isinstance(image_type, str) else image_type)]
    if len(image_type) > 2 and image_type[2] in _NOT_PYRAMID:
        if in_folder:
            return None
        raise SlideError(f"{path}: the slide's {image_type[2].lower()} image, not its tissue pyramid")
    return _Instance(path, dataset, _Frames(path, dataset, start, size))


def _pyramid(source: Path, instances: list[_Instance]) -> list[_Level]:
    """Levels, largest first: instances grouped by their total pixel matrix."""
    if not instances:
        raise SlideError(f"{source}: no DICOM whole-slide image in the folder")
    series = {str(i.dataset.get("SeriesInstanceUID", "")) for i in instances}
    if len(series) > 1:
        raise SlideError(f"{source}: images of {len(series)} DICOM series; expected one slide's")
    groups: dict[tuple[int, int], list[_Instance]] = {}
    for instance in instances:
        groups.setdefault(_total_size(instance), []).append(instance)
    ordered = sorted(groups.items(), key=lambda item: -item[0][0] * item[0][1])
    return [_level(size, members) for size, members in ordered]


def _total_size(instance: _Instance) -> tuple[int, int]:
    ds = instance.dataset
    width = _int(ds, "TotalPixelMatrixColumns", instance.frames.tile_width if instance.frames.count == 1 else 0)
    height = _int(ds, "TotalPixelMatrixRows", instance.frames.tile_height if instance.frames.count == 1 else 0)
    if width <= 0 or height <= 0:
        raise SlideError(f"{instance.path}: no total pixel matrix size (the file is truncated or corrupt)")
    return width, height


def _level(size: tuple[int, int], members: list[_Instance]) -> _Level:
    """One level's tile grid. Instances of one size are the parts of a concatenation, or other focal
    planes or optical paths of the first (by Instance Number), which are left out."""
    members = sorted(members, key=lambda i: (_int(i.dataset, "InstanceNumber", 0), str(i.path)))
    first = members[0]
    concatenation = first.dataset.get("ConcatenationUID")
    parts = [m for m in members if concatenation and m.dataset.get("ConcatenationUID") == concatenation] or [first]
    parts.sort(key=lambda i: _int(i.dataset, "InConcatenationNumber", 0))
    tw, th = first.frames.tile_width, first.frames.tile_height
    width, height = size
    columns, rows = math.ceil(width / tw), math.ceil(height / th)
    grid = np.full((rows, columns), -1, dtype=np.int64)
    tiles: list[tuple[_Frames, int]] = []
    for part in parts:
        if (part.frames.tile_width, part.frames.tile_height) != (tw, th):
            raise SlideError(
                f"{part.path}: frames of {part.frames.tile_width} x {part.frames.tile_height}, "
                f"unlike the {tw} x {th} of {first.path.name}"
            )
        try:
            positions = _positions(part, columns, rows, width, height)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise SlideError(f"{part.path}: malformed tile positions: {exc}") from exc
        for index, (column, row) in positions:
            if not (0 <= column < columns and 0 <= row < rows):
                raise SlideError(f"{part.path}: frame {index + 1} lies outside the {width} x {height} image")
            if grid[row, column] < 0:
                grid[row, column] = len(tiles)
                tiles.append((part.frames, index))
    return _Level(width, height, tw, th, columns, rows, grid, tiles, first.dataset)


def _positions(part: _Instance, columns: int, rows: int, width: int, height: int) -> list[tuple[int, tuple[int, int]]]:
    """``(frame index, (column, row))`` of the frames of the first focal plane and optical path."""
    ds, frames = part.dataset, part.frames
    if str(ds.get("DimensionOrganizationType", "")).upper() == "TILED_FULL":
        # across a concatenation the frames continue the order; later planes and paths follow the first
        offset = _int(ds, "ConcatenationFrameOffsetNumber", 0)
        plane = columns * rows
        return [
            (i, ((offset + i) % columns, (offset + i) // columns)) for i in range(frames.count) if offset + i < plane
        ]
    if "PerFrameFunctionalGroupsSequence" in ds:
        return _stated_positions(part)
    if frames.count == 1 and columns == rows == 1:
        return [(0, (0, 0))]
    if frames.count != columns * rows:
        raise SlideError(
            f"{part.path}: {frames.count} frames whose positions are not stated "
            f"(no TILED_FULL, no per-frame positions) for a {columns} x {rows} tile grid"
        )
    return list(enumerate(_unstated_order(frames, columns, rows, width, height)))


def _stated_positions(part: _Instance) -> list[tuple[int, tuple[int, int]]]:
    ds, frames = part.dataset, part.frames
    items = ds.PerFrameFunctionalGroupsSequence
    if len(items) != frames.count:
        raise SlideError(f"{part.path}: {len(items)} frame descriptions for {frames.count} frames")
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    chosen: tuple[object, object] | None = None
    found: list[tuple[int, tuple[int, int]]] = []
    for index, item in enumerate(items):
        where = item.PlanePositionSlideSequence[0]
        paths = item.get("OpticalPathIdentificationSequence") or (
            shared.get("OpticalPathIdentificationSequence") if shared is not None else None
        )
        plane = (where.get("ZOffsetInSlideCoordinateSystem"), paths[0].OpticalPathIdentifier if paths else None)
        chosen = plane if chosen is None else chosen
        if plane != chosen:
            continue
        x, y = int(where.ColumnPositionInTotalImagePixelMatrix) - 1, int(where.RowPositionInTotalImagePixelMatrix) - 1
        if x % frames.tile_width or y % frames.tile_height:
            raise SlideError(
                f"{part.path}: frame {index + 1} at ({x + 1}, {y + 1}) is off the "
                f"{frames.tile_width} x {frames.tile_height} tile grid; not supported"
            )
        found.append((index, (x // frames.tile_width, y // frames.tile_height)))
    return found


def _unstated_order(frames: _Frames, columns: int, rows: int, width: int, height: int) -> list[tuple[int, int]]:
    """Grid positions of frames stored in an unstated order: row by row or column by column, whichever
    joins better across a sample of tile borders (row by row, TILED_FULL's, on a tie)."""
    by_row = [(k % columns, k // columns) for k in range(columns * rows)]
    if columns == 1 or rows == 1:
        return by_row
    by_column = [(k // rows, k % rows) for k in range(columns * rows)]
    decoded: dict[int, NDArray[np.int16]] = {}
    cells = [(c, r) for r in range(rows) for c in range(columns)]
    sample = cells[:: max(1, len(cells) // _ORDER_SAMPLES)]
    tw, th = frames.tile_width, frames.tile_height

    def step(order: list[tuple[int, int]]) -> float:
        at = {position: k for k, position in enumerate(order)}

        def tile(column: int, row: int) -> NDArray[np.int16]:
            k = at[(column, row)]
            if k not in decoded:
                decoded[k] = frames.decode(k).astype(np.int16)
            return decoded[k]

        steps = []
        for c, r in sample:
            if c + 1 < columns:  # tile (c, r) is whole across; only rows inside the image count
                h = min(th, height - r * th)
                steps.append(np.abs(tile(c, r)[:h, -1] - tile(c + 1, r)[:h, 0]).mean())
            if r + 1 < rows:
                w = min(tw, width - c * tw)
                steps.append(np.abs(tile(c, r)[-1, :w] - tile(c, r + 1)[0, :w]).mean())
        return float(np.mean(steps))

    return by_column if step(by_column) < step(by_row) else by_row


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    """Microns per pixel ``(x, y)`` from Pixel Spacing (mm, rows then columns): the shared functional
    groups, else the first frame's, else the top level. The Imaged Volume size is not used:
    converters write placeholders there (the test file: 15 x 15 mm over 3236 x 2638 pixels)."""
    places = []
    for name in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        groups = ds.get(name)
        if groups and groups[0].get("PixelMeasuresSequence"):
            places.append(groups[0].PixelMeasuresSequence[0])
    places.append(ds)
    for place in places:
        spacing = place.get("PixelSpacing")
        try:
            row_mm, column_mm = (float(v) for v in spacing) if spacing is not None else (0.0, 0.0)
        except (TypeError, ValueError):
            continue
        if row_mm > 0 and column_mm > 0 and math.isfinite(row_mm) and math.isfinite(column_mm):
            return column_mm * 1000.0, row_mm * 1000.0
    return None


def _int(ds: Dataset, keyword: str, default: int) -> int:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


# --- stored tiles -------------------------------------------------------------


class DicomTiles(StoredTiles):
    """A DICOM slide's frames as stored tiles (what the engine reads: each frame decoded once); thread-safe."""

    _levels: list[_Level]

    def __init__(self, path: Path, levels: list[_Level], frames: list[_Frames]) -> None:
        super().__init__(path, levels)
        self._frames = frames
        self._jpeg = [all(f.jpeg for f, _ in lv.tiles) for lv in levels]  # per level: every frame JPEG

    def decode(self, level: int, column: int, row: int) -> NDArray[np.uint8]:
        """Tile ``(column, row)`` of ``level`` as RGB ``(th, tw, 3)``, edge tiles uncropped.

        Glass (white) where no frame is stored (a sparse tiling).
        """
        stored = self._frame(level, column, row)
        if stored is None:
            lv = self._levels[level]
            return np.full((lv.tile_height, lv.tile_width, 3), WHITE, dtype=np.uint8)
        frames, frame = stored
        return frames.decode(frame)

    def jpeg_stream(self, level: int, column: int, row: int) -> bytes | None:
        """The frame as stored: under JPEG Baseline each frame is a whole JPEG stream."""
        if not self._jpeg[level]:
            return None
        stored = self._frame(level, column, row)
        if stored is None:
            return b""
        frames, frame = stored
        return frames.read(frame)

    def _frame(self, level: int, column: int, row: int) -> tuple[_Frames, int] | None:
        """The instance's frames and the frame index of tile ``(column, row)``; None where none is stored."""
        lv = self._levels[level]
        if not (0 <= column < lv.columns and 0 <= row < lv.rows):
            raise IndexError(f"tile ({column}, {row}) is outside level {level}'s {lv.columns} x {lv.rows} grid")
        index = int(lv.grid[row, column])
        return None if index < 0 else lv.tiles[index]

    def close(self) -> None:
        """Close every instance's file."""
        for frames in self._frames:
            frames.close()
