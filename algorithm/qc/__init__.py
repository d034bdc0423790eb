"""QC pictures of a job's results: one PNG per slide, and an ``index.html`` over a cohort.

``layers.py`` holds what a picture shows; ``picture.py`` draws a slide's thumbnail with the
tissue outline, the tumour heatmap and
its 0.5 contour, the detected mitotic figures (rings outside the evaluation's hit radius,
coloured by score from the threshold up: ``marks.py``), the major axis line, the nuclei
mask where there is one, the label task's patches coloured by probability (``patches.py``;
its call in the caption) where it ran, a scale bar (``scale_bar.py``) and a legend
(``legend.py``), small and strip-shaped slides laid out to be seen (``layout.py``);
``job_view.py`` gathers those layers
from what a job already computed (no second inference) and ``figures.py`` the caption's
figures, read back from the outputs it wrote; ``index.py`` writes the
sortable page that shows every slide's picture and its row of the cohort table.
"""

from algorithm.qc.index import write_index
from algorithm.qc.layers import MaskLayer, PatchLayer, QcInput
from algorithm.qc.picture import render_qc

__all__ = ["MaskLayer", "PatchLayer", "QcInput", "render_qc", "write_index"]
