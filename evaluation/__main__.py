"""``python -m evaluation``: see :mod:`evaluation.cli`."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    try:
        from evaluation.cli import main  # its imports take a second: a Ctrl-C meanwhile is one line too
    except KeyboardInterrupt:
        print("evaluation failed: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(main())
