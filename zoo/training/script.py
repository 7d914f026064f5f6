"""Recipe scripts as commands: finding one by name (`zoo train NAME`, `zoo launch`), and
`run_script`, how a recipe runs, all without importing TensorFlow to get there.

Example:
    >>> find_recipe("lenet_mnist").name  # doctest: +SKIP
    'lenet_mnist.py'
    >>> if __name__ == "__main__":  # doctest: +SKIP
    ...     raise SystemExit(run_script(main))
"""

from __future__ import annotations

import ast
import difflib
import os
import sys
from collections.abc import Callable
from pathlib import Path
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


def recipe_dirs() -> list[Path]:
    """Where `zoo train NAME` looks: $ZOO_RECIPES, ./recipes, then the installed `zoo.recipes`."""
    import zoo.recipes

    dirs = [Path(os.environ["ZOO_RECIPES"])] if os.environ.get("ZOO_RECIPES") else []
    dirs += [Path("recipes"), Path(zoo.recipes.__file__).resolve().parent]
    return [d for i, d in enumerate(dirs) if d.is_dir() and d.resolve() not in
            [e.resolve() for e in dirs[:i]]]


def available_recipes() -> dict[str, tuple[Path, str]]:
    """{name: (script, its one-line summary)} over `recipe_dirs()`, the first found winning; read
    from each script's docstring without running it."""
    found: dict[str, tuple[Path, str]] = {}
    for directory in recipe_dirs():
        for path in sorted(directory.glob("*.py")):
            if path.stem.startswith("_") or path.stem in found:
                continue
            try:
                doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
                doc = ""
            found[path.stem] = (path, doc.strip().split("\n")[0].rstrip("."))
    return found


def find_recipe(name: str) -> Path:
    """The recipe script for `name` (a recipe name like `lenet_mnist`, or a path to a .py)."""
    if name.endswith(".py") or os.sep in name:
        path = Path(name)
        if path.is_file():
            return path
        raise LookupError(f"No recipe file {name!r}.")
    recipes = available_recipes()
    if name in recipes:
        return recipes[name][0]
    close = difflib.get_close_matches(name, recipes, n=3)
    hint = f"Did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise LookupError(f"No recipe named {name!r}. {hint}Available: {', '.join(recipes) or 'none found'} "
                      f"(looked in {', '.join(str(d) for d in recipe_dirs()) or './recipes'}; "
                      "`zoo train` lists them; set ZOO_RECIPES to a directory of your own).")
