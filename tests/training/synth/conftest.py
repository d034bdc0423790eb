"""Small synthetic slides generated once per session (real files, no mocks)."""

from __future__ import annotations

import pytest

from training.synth.config import SynthConfig
from training.synth.generate import SlideResult, generate_slide
from training.synth.pyramid import TiffOptions

# Two pyramid levels (2560 > 2048), a tumour with room for its mitoses, seconds to render.
TUMOUR = SynthConfig(seed=10, width=2560, height=1536, label="tumour", mitoses=12, imposters=12, scanner="A")
NORMAL = SynthConfig(seed=8, width=2560, height=1536, label="normal", mitoses=6, imposters=6, scanner="C")
LOSSLESS = TiffOptions(compression="deflate", tile=512)


@pytest.fixture(scope="session")
def tumour_slide(tmp_path_factory) -> SlideResult:
    return generate_slide(TUMOUR, tmp_path_factory.mktemp("synth-tumour"), options=LOSSLESS)


@pytest.fixture(scope="session")
def normal_slide(tmp_path_factory) -> SlideResult:
    return generate_slide(NORMAL, tmp_path_factory.mktemp("synth-normal"))
