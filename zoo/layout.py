"""Which directories are versions of an exported model: the one rule export, `zoo serve` and
`zoo predict` share (TensorFlow-free, so any of them can import it cheaply).

A version is a directory under the model's directory whose name is an ASCII decimal integer
that fits TF Serving's int64 version numbers: `1`, `2`, `0042`. Python's `str.isdigit()` is not
this rule: it accepts `²` (which `int()` then refuses) and `٣` (which `int()` reads as 3).

Example:
    >>> version_of("3"), version_of("٣"), version_of("²"), version_of(".3.incomplete-host-1-ab")
    (3, None, None, None)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MAX_VERSION = 2**63 - 1  # versions are int64 in TF Serving's protos
_VERSION = re.compile(r"[0-9]{1,19}")


def version_of(name: str) -> int | None:
    """The version number a directory name stands for, or None when it is not a version."""
    if not _VERSION.fullmatch(name):
        return None
    version = int(name)
    return version if version <= MAX_VERSION else None


def list_versions(model_dir: str | os.PathLike) -> dict[int, Path]:
    """{version: its directory} under `model_dir` ({} when it does not exist).

    Raises `OSError` (e.g. `PermissionError`) when `model_dir` exists but cannot be listed:
    a caller that serves models must tell "no versions" from "cannot see the versions".

    Example:
        >>> list_versions("/nonexistent/lenet")
        {}
    """
    try:
        entries = list(os.scandir(model_dir))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    versions = {}
    for entry in entries:
        version = version_of(entry.name)
        # `1` and `01` are the same version: the plain spelling wins, whatever the listing order.
        if version is not None and entry.is_dir() and (version not in versions or entry.name == str(version)):
            versions[version] = Path(entry.path)
    return versions
