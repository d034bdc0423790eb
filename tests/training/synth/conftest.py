"""Small synthetic slides generated once per session (real files, no mocks)."""

from __future__ import annotations

from typing import TypeVar

import pytest

from training.synth.config import SynthConfig
from training.synth.generate import SlideResult, generate_slide
from training.synth.pyramid import TiffOptions

# Two pyramid levels (2560 > 2048), a tumour with room for its mitoses, seconds to render.
TUMOUR = SynthConfig(seed=10, width=2560, height=1536, label="tumour", mitoses=12, imposters=12, scanner="A")
NORMAL = SynthConfig(seed=8, width=2560, height=1536, label="normal", mitoses=6, imposters=6, scanner="C")
LOSSLESS = TiffOptions(compression="deflate", tile=512)

T = TypeVar("T")


def simd_level() -> str:
    """numpy's widest SIMD level here: "avx512", "avx2", or its own name for another.

    numpy picks its float64 exp/log/sin loops by the CPU's level, and they differ in the last
    bit between levels: enough to move a few of the generator's rendered pixels by one grey
    level. Same seed, same bytes holds on one machine; a digest of rendered pixels recorded
    on another is per level.
    """
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__  # type: ignore[import-not-found]
    except ImportError:  # numpy's private names moved: no level known
        return "unknown"
    found = [target for target in __cpu_dispatch__ if __cpu_features__.get(target)]
    if {"X86_V4", "AVX512_SKX", "AVX512_ICL", "AVX512_SPR"} & set(found):
        return "avx512"
    if {"X86_V3", "AVX2"} & set(found):
        return "avx2"
    return found[-1] if found else "baseline"


def recorded_for_this_machine(digests: dict[str, T]) -> T:
    """The digests recorded on a machine of this SIMD level (:func:`simd_level`); skips the test where none was."""
    level = simd_level()
    if level not in digests:
        pytest.skip(f"no digest recorded for numpy's {level} SIMD level (recorded: {', '.join(digests)})")
    return digests[level]


@pytest.fixture(scope="session")
def tumour_slide(tmp_path_factory) -> SlideResult:
    return generate_slide(TUMOUR, tmp_path_factory.mktemp("synth-tumour"), options=LOSSLESS)


@pytest.fixture(scope="session")
def normal_slide(tmp_path_factory) -> SlideResult:
    return generate_slide(NORMAL, tmp_path_factory.mktemp("synth-normal"))
