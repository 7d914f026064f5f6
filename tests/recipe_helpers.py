"""Running recipes in tests: import a recipe script as a module and call its `main(argv)`."""

from __future__ import annotations

import json
import runpy
import time
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
RECIPES = sorted(path.stem for path in RECIPES_DIR.glob("*.py") if not path.stem.startswith("_"))


def recipe(name: str) -> dict:
    """The recipe's module namespace (`Config`, `load_data`, `main`), without running it."""
    return runpy.run_path(str(RECIPES_DIR / f"{name}.py"), run_name=name)


def quick_args(tmp_path: Path, *extra: str, epochs: int = 2, batch_size: int = 16) -> list[str]:
    """Flags for a short run whose files all land under `tmp_path`."""
    return ["--epochs", str(epochs), "--batch-size", str(batch_size),
            "--model-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"),
            "--data-dir", str(tmp_path / "data"), *extra]


def wait_for_backup_epoch(model_dir: Path, epoch: int, running, timeout: float = 240) -> int:
    """Polls the run's `BackupAndRestore` metadata until it records `epoch` completed epochs
    (or more), the run stops (`running()` is false) or `timeout` s pass; returns the last
    count read, so the caller asserts what it needs."""
    metadata = model_dir / "backup" / "training_metadata.json"
    deadline = time.monotonic() + timeout
    completed = 0
    while completed < epoch and time.monotonic() < deadline and running():
        time.sleep(0.02)
        try:
            completed = json.loads(metadata.read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            pass
    return completed


def assert_matches_one_replica(replicated: list[float], one: list[float], *, ensemble: bool) -> None:
    """Per-epoch losses (and optionally the test loss after them) of a run over several
    replicas against one replica's. The first epoch's steps are the same updates: a replica
    that missed the all-reduce or counted its half twice is off by percents there. LeNet then
    stays within 1e-7. An ensemble's members run in another float32 order under a strategy and
    Adam amplifies that rounding epoch by epoch (measured 2026-12-04, MirroredStrategy and two
    workers alike: 1e-7, 7e-6 and 1e-4 after epochs 1-3, 5e-4 on the test loss), so after its
    first epoch an ensemble is held to tracking one replica, not to its last bits."""
    import pytest

    assert replicated[0] == pytest.approx(one[0], rel=1e-5)
    assert replicated[1:] == pytest.approx(one[1:], rel=2e-3 if ensemble else 1e-4)
