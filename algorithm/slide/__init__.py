"""Whole-slide reading: one interface over OpenSlide, tifffile, SimpleITK and pydicom.

``open_slide(path)`` picks the backend: ITK formats by suffix, plain pictures
(PNG, JPEG, BMP) with Pillow, DICOM (a ``.dcm`` file, a file with DICOM's marker,
or a folder of them: one slide's series) with pydicom, everything else OpenSlide
first (pyramids, vendor formats) and tifffile when OpenSlide refuses. A TIFF
that is a stack of images (pages of one size that are not a pyramid's levels)
is refused: either reader would show only its first image.

Errors: a file that cannot be used raises :class:`SlideError`, a bad argument
(``mpp``, a region's size or level, a thumbnail's size) :class:`ConfigError`;
both are :class:`KitError`.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from algorithm.errors import ConfigError, KitError, SlideError
from algorithm.io.readable import files_under, readable_file, readable_folder
from algorithm.slide.base import PLAUSIBLE_MPP, SlideReader, is_number, is_pair, plausible_mpp
from algorithm.slide.dicom_reader import DicomReader, is_dicom_file, is_dicom_folder
from algorithm.slide.image_reader import IMAGE_SUFFIXES, ImageReader
from algorithm.slide.itk_reader import ITK_SUFFIXES, ITKReader
from algorithm.slide.openslide_reader import OpenSlideReader
from algorithm.slide.tiff_check import TIFF_SUFFIXES, is_tiff, problem
from algorithm.slide.tiff_reader import TiffReader

_log = logging.getLogger(__name__)

__all__ = [
    "SlideReader",
    "KitError",
    "SlideError",
    "ConfigError",
    "open_slide",
    "slide_files",
    "SLIDE_SUFFIXES",
    "IMAGE_SUFFIXES",
]

SLIDE_SUFFIXES = (
    ".tif",
    ".tiff",
    ".svs",
    ".ndpi",
    ".mrxs",
    ".scn",
    ".vms",
    ".vmu",
    ".bif",
    ".svslide",
    ".dcm",
) + ITK_SUFFIXES


def slide_files(folder: Path, exclude: Path | None = None) -> list[Path]:
    """Every slide file under ``folder`` (recursively; not under ``exclude``), sorted. Pictures (PNG, JPEG,
    BMP) are not slides here: a folder of figures or thumbnails beside slides must not become jobs."""
    files = list(files_under(folder, SLIDE_SUFFIXES))  # an unreadable folder or broken link: an error, not absent
    found = sorted(
        p
        for p in files
        if p.name.lower().endswith(SLIDE_SUFFIXES) and (exclude is None or not p.is_relative_to(exclude))
    )
    if not found:
        pictures = sum(1 for p in files if p.name.lower().endswith(IMAGE_SUFFIXES))
        hint = (
            f"; its {pictures} picture(s) (PNG, JPEG, BMP) are not searched for in folders: give each by name "
            "(a cohort: in a CSV's 'slide' column)"
            if pictures
            else ""
        )
        raise KitError(f"{folder}: no slide files found (looked for {', '.join(SLIDE_SUFFIXES)}){hint}")
    return found


def open_slide(
    path: str | os.PathLike[str] | bytes,
    mpp: tuple[float, float] | float | None = None,
    default_mpp: tuple[float, float] | float | None = None,
) -> SlideReader:
    """Open a slide for reading. ``mpp`` overrides its microns per pixel; ``default_mpp`` (the commands'
    ``--mpp``) supplies them only where the file states no plausible resolution of its own, and a file's own
    that disagrees with it is kept, with a warning naming both. Each is a number (numpy's too) or an
    ``(x, y)`` pair of them, within :data:`PLAUSIBLE_MPP`; anything else raises ConfigError."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"open_slide takes a file or folder path (str or pathlib.Path), got {type(path).__name__}")
    path = Path(path)
    override, default = _checked_mpp(path, "mpp", mpp), _checked_mpp(path, "default_mpp", default_mpp)
    reader = _opened(path, override)
    if default is not None and override is None:
        if not reader.has_mpp:
            reader.supply_mpp(default)
        elif not all(math.isclose(own, given, rel_tol=0.01) for own, given in zip(reader.mpp, default, strict=True)):
            _log.warning(
                "%s: the file says %.4g um/px; --mpp %.4g is for files that do not say, so the file's is used",
                path,
                reader.mpp[0],
                default[0],
            )
    return reader


def _checked_mpp(path: Path, name: str, mpp: object) -> tuple[float, float] | None:
    """``mpp`` as ``(x, y)`` floats (None stays None); ConfigError naming ``name`` and the value otherwise."""
    if mpp is None:
        return None
    if is_number(mpp):
        pair = (float(mpp), float(mpp))
    elif is_pair(mpp) and all(is_number(m) for m in mpp):
        pair = (float(mpp[0]), float(mpp[1]))
    else:
        raise ConfigError(
            f"{path}: {name} must be a number of microns per pixel or an (x, y) pair of them, got {mpp!r}"
        )
    if not all(plausible_mpp(m) for m in pair):
        lo, hi = PLAUSIBLE_MPP
        raise ConfigError(f"{path}: {name} must be between {lo:g} and {hi:g} microns per pixel, got {mpp!r}")
    return pair


def _opened(path: Path, mpp: tuple[float, float] | None) -> SlideReader:
    """The reader for ``path``'s format, probed (a corrupt file fails here, not mid-slide)."""
    if not path.exists():
        raise SlideError(f"{path}: no such file")
    if path.is_dir():
        readable_folder(path, SlideError)
        if not is_dicom_folder(path):
            raise SlideError(f"{path}: is a folder, not a slide file (nor a DICOM series: no .dcm file in it)")
        others = _other_slides(path)
        if others:
            raise SlideError(
                f"{path}: a DICOM series and other slide files ({', '.join(others)}) in one folder; a folder "
                "is read as one DICOM slide: open the other files by name, or move them out"
            )
        return _probed(DicomReader(path, mpp))
    readable_file(path, SlideError)
    if path.stat().st_size == 0:
        raise SlideError(f"{path}: the file is empty (0 bytes)")
    name = path.name.lower()
    if name.endswith(ITK_SUFFIXES):
        return ITKReader(path, mpp)
    if name.endswith(IMAGE_SUFFIXES):
        if is_tiff(path):  # Pillow would read its first image flat, without its pyramid or resolution
            raise SlideError(
                f"{path}: a TIFF (a slide's format) named {path.suffix}: give it its own suffix (.tif, .svs ...) "
                "so that it is read as the slide it is"
            )
        return ImageReader(path, mpp)
    if is_dicom_file(path):
        return _probed(DicomReader(path, mpp))
    # a slide cut short, or a stack whose first image OpenSlide and tifffile would show: say so, not what each
    # reader makes of it
    trouble = problem(path)
    if trouble is not None:
        raise SlideError(f"{path}: {trouble}")
    try:
        reader: SlideReader = OpenSlideReader(path, mpp)
    except SlideError as openslide_error:
        if name.endswith(TIFF_SUFFIXES) and not is_tiff(path):
            raise SlideError(
                f"{path}: not a slide: a {path.suffix} file is a TIFF, and this one does not start as one"
            ) from openslide_error
        if not name.endswith((".tif", ".tiff")):
            raise
        try:
            return TiffReader(path, mpp)
        except SlideError as tiff_error:
            why = str(openslide_error).removeprefix(f"{path}: ")
            raise SlideError(f"{tiff_error}; {why}") from tiff_error
    return _probed(reader)


def _other_slides(folder: Path) -> list[str]:
    """Names of the slide files in a DICOM series folder that are not DICOM (the job's input rule:
    ``algorithm.interface.inputs``); pictures and other files beside a series are not slides."""
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file() and p.name.lower().endswith(SLIDE_SUFFIXES) and not is_dicom_file(p)
    )


def _probed(reader: SlideReader) -> SlideReader:
    _probe(reader)
    return reader


def _probe(reader: SlideReader) -> None:
    """Decode one small region so a corrupt file fails at open, not mid-slide."""
    level = reader.level_count - 1
    w, h = reader.level_dimensions[level]
    try:
        reader.read_region((0, 0), level, (min(w, 64), min(h, 64)))
    except SlideError:
        reader.close()
        raise
