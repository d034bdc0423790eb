"""``python -m algorithm cohort``: a cohort of slides through the container's job, on Ray.

Modules, in the order a run uses them: slides (the slide list and job ids), layout (the
output folder, staging and commit), record (a slide's row), worker (models loaded once,
one slide at a time), cluster (Ray: local or ``--address``, workers as actors), progress,
predictions (grand-challenge's predictions.json), table (cohort.csv and the summary), run
(the whole run, resumable), cli. Ray is imported in ``cluster`` only: ``import algorithm``
and the container never need it.
"""
