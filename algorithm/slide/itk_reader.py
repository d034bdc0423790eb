"""ITK formats through SimpleITK: ``.mha``/``.mhd``/``.nrrd`` and the like.

Grand-challenge converts many uploads to ``.mha``. Spacing is in millimetres.
Uncompressed MetaImage files stream region by region; anything else is read
once and kept, which is fine for the small images those formats carry.

SimpleITK is imported when the first ITK file is opened, not with ``algorithm.slide``:
TIFF, SVS and DICOM slides run without it installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from algorithm.errors import SlideError
from algorithm.slide.base import SlideReader

ITK_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr", ".nii", ".nii.gz", ".hdr", ".vtk")
CACHE_LIMIT_BYTES = 512 * 1024**2


class ITKReader(SlideReader):
    """A 2-D image in an ITK format (grand-challenge's ``.mha`` conversions), held in memory or streamed."""

    backend = "simpleitk"

    def __init__(self, path: Path, mpp_override: tuple[float, float] | None = None) -> None:
        super().__init__(path, mpp_override)
        try:
            import SimpleITK as sitk
        except ImportError as exc:
            raise SlideError(f"{path}: reading ITK formats needs SimpleITK, which is not installed") from exc
        self._reader = sitk.ImageFileReader()
        self._reader.SetFileName(str(path))
        try:
            self._reader.ReadImageInformation()
        except RuntimeError as exc:
            raise SlideError(f"{path}: SimpleITK cannot read it: {_first_line(exc)}") from exc
        size = self._reader.GetSize()
        if len(size) == 3 and size[2] != 1:
            raise SlideError(f"{path}: a 3-D image with {size[2]} slices is not a slide")
        if len(size) not in (2, 3) or min(size[:2]) <= 0:
            raise SlideError(f"{path}: the image is empty or not 2-D (size {size})")
        self._size = (int(size[0]), int(size[1]))
        channels = self._reader.GetNumberOfComponents()
        if channels not in (1, 3, 4):
            raise SlideError(f"{path}: {channels} channels; expected grey, RGB or RGBA")
        self._cached: NDArray[np.uint8] | None = None
        if not self._can_stream() or self._size[0] * self._size[1] * channels <= CACHE_LIMIT_BYTES:
            self._cached = self._extract(0, 0, *self._size)

    # mypy's [override]: the base class's plain attribute is a property here, read the same way by callers.
    @property
    def concurrent_reads(self) -> bool:  # type: ignore[override]
        """Held in memory: any thread may slice it; streamed: one reader object, one thread."""
        return self._cached is not None

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """The one level's ``(width, height)``: ITK files carry no pyramid."""
        return (self._size,)

    def _native_mpp(self) -> tuple[float, float] | None:
        spacing = self._reader.GetSpacing()
        # ITK's default spacing 1.0 mm means "unknown", not a 1000 um pixel.
        if all(s == 1.0 for s in spacing[:2]):
            return None
        return float(spacing[0]) * 1000.0, float(spacing[1]) * 1000.0

    def _can_stream(self) -> bool:
        meta = self._reader.GetMetaDataKeys()
        compressed = "CompressedData" in meta and self._reader.GetMetaData("CompressedData").strip() == "True"
        return self.path.suffix.lower() in (".mha", ".mhd") and not compressed

    def _extract(self, x: int, y: int, width: int, height: int) -> NDArray[np.uint8]:
        dims = len(self._reader.GetSize())
        self._reader.SetExtractIndex((x, y, 0)[:dims])
        self._reader.SetExtractSize((width, height, 1)[:dims])
        try:
            image = self._reader.Execute()
        except RuntimeError as exc:
            raise SlideError(f"{self.path}: cannot read pixels: {_first_line(exc)}") from exc
        import SimpleITK as sitk  # loaded by __init__: only a lookup now

        array = sitk.GetArrayFromImage(image)
        if dims == 3:
            array = array[0]
        return _to_rgb8(self.path, array)

    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> NDArray[np.uint8]:
        if self._cached is not None:
            return self._cached[y : y + height, x : x + width]
        return self._extract(x, y, width, height)


def _to_rgb8(path: Path, array: NDArray) -> NDArray[np.uint8]:
    if array.dtype != np.uint8:
        raise SlideError(f"{path}: pixel type {array.dtype} is not supported (expected 8-bit)")
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[-1] == 1:
        return np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray(array[..., :3])


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # ITK's messages end with the useful sentence after a file:line prefix
    return lines[-1] if lines else type(exc).__name__
