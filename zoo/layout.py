"""Which directories are models and versions of an export: the rules export, `zoo serve` and
`zoo predict` share (TensorFlow-free, so any of them can import it cheaply).

A version is a directory under the model's directory whose name is an ASCII decimal integer
that fits TF Serving's int64 version numbers: `1`, `2`, `0042`. Python's `str.isdigit()` is not
this rule: it accepts `²` (which `int()` then refuses) and `٣` (which `int()` reads as 3).

Example:
    >>> version_of("3"), version_of("٣"), version_of("²"), version_of(".3.incomplete-host-1-ab")
    (3, None, None, None)
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

# Inside a version directory: TF Serving's own names, and the zoo's card beside its warm-up file.
DEFAULT_SIGNATURE = "serving_default"
ATTENTION_SIGNATURE = "attention"  # attention weights, for models with attention pooling
ASSETS_EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"  # PredictionLog records TF Serving replays at load
CARD_FILE = "model_card.json"

MAX_VERSION = 2**63 - 1  # versions are int64 in TF Serving's protos
_VERSION = re.compile(r"[0-9]{1,19}")
MODEL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")  # a plain directory name, not hidden, no `..`


def is_model_name(name) -> bool:
    """Whether `name` can name a model directory: letters, digits, `_`, `.`, `-`, not
    starting with `.` (so never `..` nor a hidden staging directory).

    Example:
        >>> is_model_name("lenet"), is_model_name(".."), is_model_name("a/b")
        (True, False, False)
    """
    return isinstance(name, str) and MODEL_NAME.fullmatch(name) is not None


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


def check_export_target(export_dir: str | os.PathLike, name: str) -> Path:
    """`export_dir/name`, the directory an export adds versions to, after checking it can be:
    `ValueError` says what is wrong (a bad name, a file in the way, no write permission), so a
    recipe can fail before it loads data or trains rather than after.

    Example:
        >>> check_export_target("saved_models", "..")
        Traceback (most recent call last):
        ...
        ValueError: The export name must be a plain directory name (letters, digits, '_', '.', '-'; not starting with '.'). Received: '..'
    """
    if not is_model_name(name):
        raise ValueError("The export name must be a plain directory name (letters, digits, '_', '.', '-'; "
                         f"not starting with '.'). Received: {name!r}")
    target = Path(export_dir) / name
    existing = target
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ValueError(f"Cannot export to {str(target)!r}: {str(existing)!r} is a file, not a directory. "
                         "Pass --export-dir a directory (it is created if missing).")
    if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"Cannot export to {str(target)!r}: {str(existing)!r} is not writable. "
                         "Pass --export-dir a directory you can write to.")
    return target


def warmup_path(version_dir: str | os.PathLike) -> Path:
    """Where an export keeps the warm-up requests TF Serving (and `zoo serve`) replay."""
    return Path(version_dir) / ASSETS_EXTRA / WARMUP_FILE


def card_path(version_dir: str | os.PathLike) -> Path:
    return Path(version_dir) / ASSETS_EXTRA / CARD_FILE


def read_card(version_dir: str | os.PathLike) -> dict[str, Any]:
    """The model card stored in an export's `assets.extra/` (what the zoo knows about the model:
    its head, outputs, signature, training data, metrics); {} for an export made elsewhere.

    Example:
        >>> read_card("/nonexistent/lenet/1")
        {}
    """
    try:
        return json.loads(card_path(version_dir).read_text())
    except FileNotFoundError:
        return {}
