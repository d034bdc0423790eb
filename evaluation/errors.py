"""The one exception type of the evaluation: a problem someone can act on.

Every failure caused by a submission (a bad file, a missing case) or by the
organiser's setup (bad ground truth or config) is raised as
:class:`EvaluationError` with a one-line message naming the job, case and file.
The command line prints that line on stderr and exits 1 without writing
``metrics.json``: scoring garbage is worse than failing loudly.
"""

from __future__ import annotations


class EvaluationError(Exception):
    """A failure the participant or organiser can act on; its message is shown as it is."""
