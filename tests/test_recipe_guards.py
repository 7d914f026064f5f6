"""Recipes run as a user runs them (`python recipes/lenet_mnist.py ...` in a subprocess, on the
bundled digits data) with bad settings: each fails with one clear line, before it loads data
where it can, and never exports a broken model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from recipe_helpers import RECIPES_DIR, wait_for_backup_epoch
from serving_helpers import unprivileged

RECIPE = str(RECIPES_DIR / "lenet_mnist.py")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """digits, prepared once for the module."""
    from zoo.data import load

    path = tmp_path_factory.mktemp("data")
    load("digits", "train", data_dir=str(path))
    return path


def _recipe(tmp_path, *flags, data_dir=None, prefix=(), timeout=300, wait=True):
    command = [*prefix, sys.executable, RECIPE, "--dataset", "digits", "--model-dir", str(tmp_path / "run"),
               "--export-dir", str(tmp_path / "exports"), "--data-dir", str(data_dir or tmp_path / "data"), *flags]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def _versions(tmp_path) -> list[str]:
    model_dir = tmp_path / "exports" / "lenet"
    return sorted(p.name for p in model_dir.iterdir()) if model_dir.exists() else []


@pytest.mark.parametrize("flags, message", [
    (["--learning-rate", "inf"], "`learning_rate` must be a finite number > 0. Received: learning_rate=inf"),
    (["--learning-rate", "nan"], "`learning_rate` must be a finite number > 0. Received: learning_rate=nan"),
    (["--set", "dropout=1e999"], "--set dropout: must be finite. Received: inf"),
    (["--set", "export_name=.."], "`export_name` must be a plain directory name"),
    (["--set", "export_name=a/b"], "`export_name` must be a plain directory name"),
])
def test_non_finite_or_unsafe_settings_are_refused_at_parse_time(tmp_path, flags, message):
    result = _recipe(tmp_path, *flags)
    assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "run").exists() and not (tmp_path / "data").exists()


def test_an_export_dir_that_is_a_file_fails_before_any_data_loads(tmp_path):
    (tmp_path / "exports").write_text("not a directory")
    result = _recipe(tmp_path)
    assert result.returncode == 1 and "is a file, not a directory" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # digits was never prepared: nothing was loaded


def test_a_diverging_run_stops_with_a_clear_error_and_exports_nothing(tmp_path, data_dir):
    result = _recipe(tmp_path, "--learning-rate", "1e30", "--epochs", "3", data_dir=data_dir)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "error: Training diverged:" in result.stderr and "Nothing was exported" in result.stderr
    assert "Traceback" not in result.stderr
    assert _versions(tmp_path) == []
    assert not (tmp_path / "run" / "backup").exists()


def test_a_read_only_data_dir_with_prepared_data_is_enough(tmp_path, data_dir):
    read_only = tmp_path / "readonly-data"
    shutil.copytree(data_dir, read_only)
    for path in [read_only, *read_only.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        result = _recipe(tmp_path, "--epochs", "1", data_dir=read_only, prefix=unprivileged())
    finally:
        for path in [read_only, *read_only.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert result.returncode == 0, result.stderr[-2000:]
    assert _versions(tmp_path) == ["1"]


def test_a_backup_from_other_settings_is_not_resumed_under_a_card_that_misdescribes_it(tmp_path, data_dir):
    original = ["--epochs", "40", "--learning-rate", "0.002"]
    process = _recipe(tmp_path, *original, data_dir=data_dir, wait=False)
    try:
        completed = wait_for_backup_epoch(tmp_path / "run", 1, lambda: process.poll() is None)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert completed >= 1
    saved = json.loads((tmp_path / "run" / "backup" / "zoo_config.json").read_text())
    assert saved["learning_rate"] == 0.002

    result = _recipe(tmp_path, "--epochs", "2", "--learning-rate", "0.01", data_dir=data_dir)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "holds weights trained with learning_rate=0.002 (now 0.01)" in result.stderr
    assert _versions(tmp_path) == [] and (tmp_path / "run" / "backup").exists()  # nothing lost

    # The same settings (more or fewer epochs may differ) resume it, and the card says so.
    result = _recipe(tmp_path, "--epochs", str(completed + 1), "--learning-rate", "0.002", data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    card = json.loads((tmp_path / "exports" / "lenet" / "1" / "assets.extra" / "model_card.json").read_text())
    assert card["config"]["learning_rate"] == 0.002
