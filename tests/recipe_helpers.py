"""Running recipes in tests: import a recipe script as a module and call its `main(argv)`."""

from __future__ import annotations

import runpy
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
RECIPES = sorted(path.stem for path in RECIPES_DIR.glob("*.py"))


def recipe(name: str) -> dict:
    """The recipe's module namespace (`Config`, `load_data`, `main`), without running it."""
    return runpy.run_path(str(RECIPES_DIR / f"{name}.py"), run_name=name)


def quick_args(tmp_path: Path, *extra: str, epochs: int = 2, batch_size: int = 16) -> list[str]:
    """Flags for a short run whose files all land under `tmp_path`."""
    return ["--epochs", str(epochs), "--batch-size", str(batch_size),
            "--model-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"),
            "--data-dir", str(tmp_path / "data"), *extra]
