"""Segmentation masks: reading with pixel spacing, foreground, nearest-neighbour resampling.

Masks are read with SimpleITK (``.mha``, ``.mhd``, ``.nrrd``, ``.nii[.gz]``,
``.tif``/``.tiff`` with resolution tags converted to millimetres, ``.png``).
ITK reports a spacing of exactly 1 when a file carries none; that is treated
as *unknown* (no pathology mask has 1 mm pixels).

The prediction is resampled onto the truth's pixel grid by nearest neighbour:
truth pixel ``i`` (centre at ``(i + 0.5) * truth_spacing`` from the image's
top-left corner) takes prediction pixel ``floor((i + 0.5) * truth_spacing /
prediction_spacing)``; outside the prediction is background. Both masks are
assumed to share their top-left corner (origins are ignored). When either
spacing is unknown the two masks are assumed to cover the same extent and the
scale is the ratio of their sizes (identity for equal sizes). When both are
known, the two extents (size times spacing) must agree (:func:`check_same_extent`):
a spacing in the wrong unit is refused, not scored as an empty overlap.

A file that cannot be read fails with one line of our own: ITK's messages go to
the C library's stderr (MetaImage's ``data not read completely``, libtiff's
warnings) and its exceptions name the wrong cause (``No such file or
directory`` for a truncated file), so both are kept from the user; a MetaImage
(``.mha``/``.mhd``) whose pixel data is shorter than its header says is
reported as truncated before ITK reads it.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import SimpleITK as sitk

from evaluation.errors import EvaluationError


@dataclass(frozen=True)
class Mask:
    """A mask as read from its file: the pixels, and the pixel spacing needed to compare it with the truth."""

    array: np.ndarray  # (height, width)
    spacing_mm: tuple[float, float] | None  # (x, y); None when the file has none


# Bytes per element of MetaImage's element types (MET_LONG/MET_ULONG are left out: their size is the platform's).
_META_ELEMENT_BYTES = {
    "MET_CHAR": 1,
    "MET_UCHAR": 1,
    "MET_SHORT": 2,
    "MET_USHORT": 2,
    "MET_INT": 4,
    "MET_UINT": 4,
    "MET_LONG_LONG": 8,
    "MET_ULONG_LONG": 8,
    "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}
_META_HEADER_LIMIT = 1 << 16  # a MetaImage header is a few hundred bytes of text
_CHUNK = 1 << 20


def _metaimage_header(path: Path) -> tuple[dict[str, str], int] | None:
    """A MetaImage header's fields and where its pixel data starts in the file; None if not one."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_META_HEADER_LIMIT)
    except OSError:
        return None
    fields: dict[str, str] = {}
    offset = 0
    for line in head.splitlines(keepends=True):
        offset += len(line)
        key, sep, value = line.decode("latin-1").partition("=")
        if not sep:
            return None
        fields[key.strip()] = value.strip()
        if key.strip() == "ElementDataFile":
            return fields, offset
    return None


def _inflated_size(path: Path, offset: int) -> int | None:
    """The size of the zlib stream at ``offset`` in ``path`` once inflated (counted, not kept); None if damaged."""
    inflater = zlib.decompressobj()
    total = 0
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            while not inflater.eof and (chunk := handle.read(_CHUNK)):
                while chunk and not inflater.eof:
                    total += len(inflater.decompress(chunk, _CHUNK * 16))
                    chunk = inflater.unconsumed_tail
    except zlib.error:
        return None
    return total if inflater.eof else None


def _metaimage_problem(path: Path) -> str | None:
    """What is wrong with a MetaImage file's pixel data (shorter than its header says, or damaged), else None.

    ITK reads a truncated file with a misleading error and inflates damaged compressed data without any, into
    pixels of whatever was in memory; this reads the header and counts the data (inflating it once when
    compressed, as ITK is about to). Anything the header cannot tell (not a MetaImage header, a list of data
    files, an element type whose size is the platform's) is left to ITK.
    """
    header = _metaimage_header(path)
    if header is None:
        return None
    fields, offset = header
    data_file = fields["ElementDataFile"]
    if "HeaderSize" in fields or data_file == "LIST" or "%" in data_file or " " in data_file:
        return None
    if data_file != "LOCAL":
        path, offset = path.parent / data_file, 0
        if not path.is_file():
            return f"the image's pixel data file {data_file} (named in its header) is missing"
        if not os.access(path, os.R_OK):
            return f"the image's pixel data file {data_file} cannot be read (Permission denied)"
    compressed = fields.get("CompressedData", "False").lower() == "true"
    try:
        sizes = [int(v) for v in fields["DimSize"].split()]
        pixel_bytes = math.prod(sizes) * int(fields.get("ElementNumberOfChannels", "1"))
        pixel_bytes *= _META_ELEMENT_BYTES[fields["ElementType"]]
        promised = int(fields["CompressedDataSize"]) if compressed else pixel_bytes
    except (KeyError, ValueError):
        return None
    held = path.stat().st_size - offset
    if held < promised:
        return f"the image is truncated: its header promises {promised} bytes of pixel data, the file holds {held}"
    if compressed and _inflated_size(path, offset) != pixel_bytes:
        return (
            f"the image is damaged: its compressed pixel data does not inflate to the {pixel_bytes} bytes "
            "its header needs"
        )
    return None


def _sink() -> IO[bytes]:
    """A temporary file for ITK's messages; /dev/null (they are dropped) where none can be made."""
    try:
        return tempfile.TemporaryFile()
    except OSError:
        return open(os.devnull, "w+b")


@contextlib.contextmanager
def _native_stderr_kept() -> Iterator[Callable[[], str]]:
    """Send what C++ code writes to file descriptor 2 into a temporary file; yields a function reading it back.

    ITK prints MetaImage and libtiff messages there directly (``SetGlobalWarningDisplay`` does not reach them).
    The evaluation is single-threaded, so no other output is lost meanwhile.
    """
    with _sink() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)

        def captured() -> str:
            sink.seek(0)
            return sink.read().decode("utf-8", "replace")

        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _unreadable(message: str, chatter: str) -> str:
    """Our own words for why ITK could not read a file that exists (its own text is misleading, see the module)."""
    if "not read completely" in chatter or "not read completely" in message:
        return "the image is truncated or damaged: its pixel data ends early"
    if "Unable to determine ImageIO" in message:
        return (
            "not an image this evaluation can read (MetaImage .mha/.mhd, TIFF, PNG, NRRD, NIfTI), "
            "or a damaged or truncated one"
        )
    return "the image is damaged or truncated, or not an image"


def read_mask(path: Path, label: str) -> Mask:
    """A single-channel 2-D mask (a 3-D one with a single slice is accepted)."""
    if not path.is_file():
        raise EvaluationError(f"{label}: file not found" if not path.exists() else f"{label}: not a file")
    if not os.access(path, os.R_OK):  # else ITK's "damaged or not an image", and a MetaImage check's traceback
        raise EvaluationError(f"{label}: cannot read (Permission denied)")
    if path.suffix.lower() in (".mha", ".mhd"):
        problem = _metaimage_problem(path)
        if problem is not None:
            raise EvaluationError(f"{label}: {problem}")
    sitk.ProcessObject_SetGlobalWarningDisplay(False)  # ITK's warnings are not ours to show
    with _native_stderr_kept() as chatter:
        try:
            image = sitk.ReadImage(str(path))
        except RuntimeError as exc:
            raise EvaluationError(f"{label}: cannot read the image: {_unreadable(str(exc), chatter())}") from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise EvaluationError(
            f"{label}: a mask must have one channel, this image has {image.GetNumberOfComponentsPerPixel()}"
        )
    size = image.GetSize()
    if image.GetDimension() == 3 and size[2] == 1:
        image = image[:, :, 0]
    elif image.GetDimension() != 2:
        raise EvaluationError(f"{label}: a mask must be 2-D, this image has size {list(size)}")
    spacing = tuple(float(s) for s in image.GetSpacing())
    array = sitk.GetArrayFromImage(image)
    known = not all(s == 1.0 for s in spacing) and all(s > 0 for s in spacing)
    return Mask(array=array, spacing_mm=(spacing[0], spacing[1]) if known else None)


# Extents (size x spacing) of a prediction and its truth may differ by this fraction, plus a pixel of the
# coarser grid (a mask at a downsample rounds its size up); a spacing in the wrong unit is off by 10 to 1000.
EXTENT_TOLERANCE = 0.05


def _mm(values: tuple[float, float]) -> str:
    return f"{values[0]:g} x {values[1]:g} mm"


def check_same_extent(prediction: Mask, label: str, truth: Mask, truth_label: str) -> None:
    """Refuse a prediction whose extent disagrees with the truth's when both spacings are known.

    Nearest-neighbour resampling would otherwise score such a prediction silently (Dice 0 when its spacing is
    1000 times the truth's, as when micrometres are written where ITK's millimetres belong).
    """
    if prediction.spacing_mm is None or truth.spacing_mm is None:
        return  # unknown spacing: the two are taken to cover the same extent
    p_size = (prediction.array.shape[1], prediction.array.shape[0])
    t_size = (truth.array.shape[1], truth.array.shape[0])
    p_extent = (p_size[0] * prediction.spacing_mm[0], p_size[1] * prediction.spacing_mm[1])
    t_extent = (t_size[0] * truth.spacing_mm[0], t_size[1] * truth.spacing_mm[1])
    for axis in (0, 1):
        slack = EXTENT_TOLERANCE * t_extent[axis] + max(prediction.spacing_mm[axis], truth.spacing_mm[axis])
        if abs(p_extent[axis] - t_extent[axis]) > slack:
            ratio = prediction.spacing_mm[axis] / truth.spacing_mm[axis]
            hint = ""
            if 500 <= ratio <= 2000:
                hint = ": the spacing looks like micrometres; a mask's spacing is in millimetres per pixel"
            elif 1 / 2000 <= ratio <= 1 / 500:
                hint = ": the spacing looks like metres; a mask's spacing is in millimetres per pixel"
            raise EvaluationError(
                f"{label}: covers {_mm(p_extent)} ({p_size[0]} x {p_size[1]} pixels, spacing "
                f"{_mm(prediction.spacing_mm)}) but {truth_label} covers {_mm(t_extent)} ({t_size[0]} x "
                f"{t_size[1]} pixels, spacing {_mm(truth.spacing_mm)}){hint}"
            )


def foreground(array: np.ndarray, label: str, threshold: float = 0.5) -> np.ndarray:
    """Boolean foreground: non-zero for integer masks, ``>= threshold`` for float masks."""
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise EvaluationError(f"{label}: the mask contains NaN or infinite values")
        return array >= threshold
    if array.dtype.kind in "biu":
        return array != 0
    raise EvaluationError(f"{label}: unsupported mask pixel type {array.dtype}")


def _indices(n_truth: int, scale: float, n_pred: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.floor((np.arange(n_truth) + 0.5) * scale).astype(np.int64)
    inside = (idx >= 0) & (idx < n_pred)
    return np.where(inside, idx, 0), inside


def resample_to(
    prediction: np.ndarray,
    prediction_spacing: tuple[float, float] | None,
    truth_shape: tuple[int, int],
    truth_spacing: tuple[float, float] | None,
) -> np.ndarray:
    """``prediction`` (boolean) on the truth's pixel grid, nearest neighbour."""
    ph, pw = prediction.shape
    th, tw = truth_shape
    if prediction_spacing is not None and truth_spacing is not None:
        sx, sy = truth_spacing[0] / prediction_spacing[0], truth_spacing[1] / prediction_spacing[1]
    else:
        sx, sy = pw / tw, ph / th
    if (ph, pw) == (th, tw) and sx == 1.0 and sy == 1.0:
        return prediction
    cols, col_in = _indices(tw, sx, pw)
    rows, row_in = _indices(th, sy, ph)
    out = prediction[np.ix_(rows, cols)]
    out &= row_in[:, None] & col_in[None, :]
    return out
