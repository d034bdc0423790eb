"""get_normaliser / get_extractor, and the runtime dependency footprint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from algorithm.errors import ConfigError
from algorithm.stain import (
    MacenkoExtractor,
    ReinhardNormaliser,
    StainNormaliser,
    VahadaneExtractor,
    get_extractor,
    get_normaliser,
)

ROOT = Path(__file__).resolve().parents[3]


def test_names_and_options():
    n = get_normaliser(" Vahadane ", regularizer=0.2, seed=4, solver="pinv")
    assert isinstance(n, StainNormaliser) and isinstance(n.extractor, VahadaneExtractor)
    assert n.method == "vahadane" and n.solver == "pinv"
    assert n.extractor.regularizer == 0.2 and n.extractor.seed == 4
    macenko = get_normaliser("MACENKO")
    assert isinstance(macenko, StainNormaliser) and isinstance(macenko.extractor, MacenkoExtractor)
    assert isinstance(get_normaliser("reinhard", statistics="tissue"), ReinhardNormaliser)
    assert isinstance(get_extractor("macenko", angular_percentile=95), MacenkoExtractor)


def test_unknown_names_and_options_are_config_errors():
    with pytest.raises(ConfigError, match=r"method 'ruifrok'; choose one of macenko, vahadane, reinhard"):
        get_normaliser("ruifrok")
    with pytest.raises(ConfigError, match="invalid options for the macenko extractor"):
        get_normaliser("macenko", regularizer=0.1)
    with pytest.raises(ConfigError, match="invalid options for the reinhard"):
        get_normaliser("reinhard", solver="lasso")
    with pytest.raises(ConfigError, match="unknown concentration solver"):
        get_normaliser("macenko", solver="nnls")
    with pytest.raises(ConfigError, match="has no stain matrix"):
        get_extractor("reinhard")


def test_runtime_needs_no_spams_staintools_or_opencv():
    code = (
        "import sys, numpy as np\n"
        "import algorithm.stain as s\n"
        "img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)\n"
        "s.get_normaliser('vahadane', min_tissue_pixels=10).fit(img)\n"
        "bad = {'spams', 'staintools', 'cv2'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
