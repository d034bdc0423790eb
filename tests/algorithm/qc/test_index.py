"""The cohort's index.html (algorithm/qc/index.py): readable pictures, the case's name, a summary that wraps."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from algorithm.qc.index import THUMBNAIL_PX, index_html, write_index
from tests.algorithm.cohort.browser import dump_dom

COLUMNS = ["slide", "name", "job", "status", "error"]
ROWS = [
    ["/data/test/input", "case-007100.tif", "input", "done", ""],
    ["/data/edge/input", "glass.tif", "input-2", "done", ""],
    ["/data/corrupt/input", "case-007101.tif", "input-3", "failed", "truncated: " + "x" * 400],
]
LONG_ERROR = "failed: /data/corrupt/input/images/roi/case-007101.tif: truncated: " + "the file ends early " * 30

# Run after the page's own script: what the browser laid out, as data attributes of <body>.
PROBE = """<script>
window.addEventListener("load", () => {
  const pre = document.querySelector("pre"), img = document.querySelector("img.qc"), b = document.body.dataset;
  b.preWraps = String(pre.scrollWidth <= pre.clientWidth + 1);
  b.pageWidth = String(document.documentElement.scrollWidth);
  b.shown = img.getBoundingClientRect().width + "x" + img.naturalWidth;
  document.querySelector("a.qc").click();
  const big = document.getElementById("viewer-img");
  b.viewer = [document.getElementById("viewer").open, big.getAttribute("src"), getComputedStyle(big).maxWidth,
    document.getElementById("viewer-title").textContent].join(":");
});
</script></body>"""


def test_the_page_has_the_name_column_a_wrapping_summary_and_full_size_pictures() -> None:
    page = index_html("Cohort: x (midog)", COLUMNS, ROWS, ["input/qc.png", "input-2/qc.png", None], [LONG_ERROR])
    head = re.findall(r'<th data-column="([^"]+)">', page)
    assert head == ["picture", *COLUMNS]
    assert '<td class="name">case-007100.tif</td>' in page and '<td class="name">case-007101.tif</td>' in page
    pre_rule = re.search(r"pre \{([^}]*)\}", page)
    assert pre_rule is not None and "white-space: pre-wrap" in pre_rule.group(1)
    assert re.search(r"img\.qc \{[^}]*max-width: 512px", page) and THUMBNAIL_PX == 512
    assert "width: 320px" not in page
    # each thumbnail links to its PNG (a plain link without the script) and names its case for the viewer
    assert '<a class="qc" href="input/qc.png" data-title="case-007100.tif - input"' in page
    assert '<dialog id="viewer">' in page and 'id="full-size"' in page
    assert "no picture" in page and '<td class="failed">failed</td>' in page


def _png(path: Path, width: int, height: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(width)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)


def _laid_out(folder: Path, hash_: str = "") -> dict[str, str]:
    dom = dump_dom((folder / "probe.html").as_uri() + hash_, folder / f"profile{hash_.strip('#')}")
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dom[:2000]
    found = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    found["loaded"] = re.search(r'id="pictures-loaded">([^<]*)<', dom).group(1)  # type: ignore[union-attr]
    return found


def test_in_a_browser_pictures_open_at_full_size_and_the_summary_wraps(tmp_path: Path) -> None:
    _png(tmp_path / "input" / "qc.png", 1024, 700)
    _png(tmp_path / "input-2" / "qc.png", 640, 300)
    write_index(
        tmp_path / "index.html", "Cohort", COLUMNS, ROWS, ["input/qc.png", "input-2/qc.png", None], [LONG_ERROR]
    )
    html = (tmp_path / "index.html").read_text()
    (tmp_path / "probe.html").write_text(html.replace("</body>", PROBE, 1))

    small = _laid_out(tmp_path)
    assert small["loaded"] == "2 of 2"  # the viewer's own <img> is not counted
    assert small["pre-wraps"] == "true"  # the long error line wraps inside the summary
    assert small["shown"] == f"{THUMBNAIL_PX}x1024"  # a thumbnail in the table ...
    assert small["viewer"] == "true:input/qc.png:none:case-007100.tif - input (1 of 2)"  # a click: 1:1, named

    full = _laid_out(tmp_path, "#full")
    assert full["shown"] == "1024x1024"  # every picture at full size in the table
