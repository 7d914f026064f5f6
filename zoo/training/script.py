"""`run_script`: how a recipe runs as a command, without importing TensorFlow to get there.

Example:
    >>> if __name__ == "__main__":  # doctest: +SKIP
    ...     raise SystemExit(run_script(main))
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class RunError(Exception):
    """A run cannot go on for a reason the user can fix (a diverged loss, an export directory
    that cannot be written, a backup made with other settings): `run_script` prints the message
    alone and exits 1, and nothing is exported."""


def _expected_errors() -> tuple[type[BaseException], ...]:
    """The failures that are the user's situation to fix, imported only once one happened (their
    modules need TensorFlow, which `--help` must not wait for)."""
    from zoo.data.loading import DatasetUnavailableError, UnknownDatasetError
    from zoo.training.multi_worker import TFConfigError

    return DatasetUnavailableError, UnknownDatasetError, NotImplementedError, TFConfigError, RunError


def run_script(main: Callable[[], Any]) -> int:
    """Runs a recipe's `main` as a script: expected failures print one clear line, exit 1.

    A dataset that is not available offline, a strategy that cannot train, or a TF_CONFIG
    that describes no usable cluster is the user's situation to fix, not a bug: it gets its
    message without a traceback. Ctrl-C ends the run with exit status 130 and one line that
    says how to resume, instead of a traceback.

    Example:
        >>> if __name__ == "__main__":  # doctest: +SKIP
        ...     raise SystemExit(run_script(main))
    """
    try:
        main()
    except KeyboardInterrupt:
        print("\nInterrupted. Run the same command again to resume after the last completed epoch "
              "(a run stopped before its first epoch starts afresh).", file=sys.stderr)
        return 130
    except Exception as error:
        if not isinstance(error, _expected_errors()):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
