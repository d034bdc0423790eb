"""The project's exception types.

Every failure a user can cause (a bad file, a bad argument) is raised as a
:class:`KitError` whose message names the file and the problem; the command
line turns it into one line on stderr and a non-zero exit. Third-party
exceptions are caught at the boundary where they happen and re-raised as one of
these, chained, so a traceback is still there for developers (``--debug``).
"""

from __future__ import annotations


class KitError(Exception):
    """A failure the user can act on; its message is shown as it is."""


class SlideError(KitError):
    """A slide file is missing, unreadable, corrupt or unusable."""


class ConfigError(KitError):
    """An argument, configuration or model file is invalid."""


class OutputError(KitError):
    """An output cannot be written where it was asked for: permissions, a full disk, or something other than
    a file already in its place."""
