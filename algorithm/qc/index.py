"""``index.html``: every slide's QC picture beside its row of the cohort table, sortable, one file.

Self-contained (inline style and script, pictures linked by relative paths), so the output
folder can be copied or zipped and opened anywhere. Click a column's header to sort by it
(numbers as numbers, again to reverse); ``index.html#sort=seconds:desc`` opens sorted.
On load the page counts the pictures that loaded into ``#pictures-loaded``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from algorithm.io.atomic import write_bytes_atomic

EAGER_PICTURES = 50  # later rows load their pictures only when scrolled to

STYLE = """
body { font: 14px sans-serif; margin: 1em; }
pre { background: #f4f4f4; padding: .5em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; }
th { background: #eee; cursor: pointer; position: sticky; top: 0; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
td.failed { color: #b00; font-weight: bold; }
img { width: 320px; }
"""

SCRIPT = """
(function () {
  const table = document.getElementById("cohort");
  const heads = Array.from(table.tHead.rows[0].cells);
  function key(row, i) { const c = row.cells[i]; return c.dataset.sort !== undefined ? c.dataset.sort : c.textContent; }
  function sortBy(i, desc) {
    const body = table.tBodies[0], rows = Array.from(body.rows);
    const numeric = rows.every(r => key(r, i).trim() === "" || !isNaN(Number(key(r, i))));
    rows.sort((a, b) => {
      let x = key(a, i), y = key(b, i);
      if (numeric) { x = x.trim() === "" ? -Infinity : Number(x); y = y.trim() === "" ? -Infinity : Number(y); }
      const c = numeric ? x - y : x.localeCompare(y, undefined, {numeric: true});
      return desc ? -c : c;
    });
    rows.forEach(r => body.appendChild(r));
    heads.forEach(h => h.classList.remove("sorted-asc", "sorted-desc"));
    heads[i].classList.add(desc ? "sorted-desc" : "sorted-asc");
    table.dataset.sortedBy = heads[i].dataset.column + (desc ? ":desc" : ":asc");
  }
  heads.forEach((h, i) => h.addEventListener("click", () => sortBy(i, h.classList.contains("sorted-asc"))));
  const wanted = /sort=([^:&]+)(:desc)?/.exec(location.hash);
  if (wanted) {
    const i = heads.findIndex(h => h.dataset.column === wanted[1]);
    if (i >= 0) sortBy(i, Boolean(wanted[2]));
  }
  window.addEventListener("load", () => {
    const pictures = Array.from(document.images);
    const loaded = pictures.filter(p => p.complete && p.naturalWidth > 0).length;
    document.getElementById("pictures-loaded").textContent = loaded + " of " + pictures.length;
  });
})();
"""


def _cell(value: str, column: str) -> str:
    status = ' class="failed"' if column == "status" and value == "failed" else ""
    return f"<td{status}>{html.escape(value)}</td>"


def index_html(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    pictures: Sequence[str | None],
    summary: Sequence[str] = (),
) -> str:
    """The page: ``rows`` (one per slide, cells in ``columns``' order) and each row's picture (a relative path)."""
    head = "".join(f'<th data-column="{html.escape(c)}">{html.escape(c)}</th>' for c in ("picture", *columns))
    body = []
    for number, (row, picture) in enumerate(zip(rows, pictures, strict=True)):
        if picture is None:
            image = '<td data-sort="">no picture</td>'
        else:
            src = html.escape(picture)
            lazy = ' loading="lazy"' if number >= EAGER_PICTURES else ""
            image = f'<td data-sort="{src}"><a href="{src}"><img src="{src}" alt="{src}"{lazy}></a></td>'
        cells = "".join(_cell(value, column) for value, column in zip(row, columns, strict=True))
        body.append(f"<tr>{image}{cells}</tr>")
    text = html.escape("\n".join(summary))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n<pre>{text}</pre>\n"
        '<p>Pictures loaded: <span id="pictures-loaded">(script not run)</span>. '
        "Click a column header to sort.</p>\n"
        f'<table id="cohort"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(body) + "\n</tbody></table>\n"
        f"<script>{SCRIPT}</script>\n</body></html>\n"
    )


def write_index(
    path: Path,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    pictures: Sequence[str | None],
    summary: Sequence[str] = (),
) -> None:
    """Write :func:`index_html` to ``path`` atomically."""
    write_bytes_atomic(path, index_html(title, columns, rows, pictures, summary).encode("utf-8"))
