"""The README's two commands are the project's contract with a new user and with CI."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
MAIN_RECIPE = "python recipes/lenet_mnist.py --dataset digits"  # run for real in test_recipe_results.py
SERVED_PREDICTION = "zoo predict lenet --model-base-path saved_models"  # run there too, after it


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    return blocks[:2]


def test_readme_opens_with_a_setup_and_run_command_and_a_test_command():
    main, tests = _readme_commands()
    assert main.startswith("python3 -m venv .venv") and main.endswith(f"{MAIN_RECIPE} && {SERVED_PREDICTION}")
    assert tests.startswith("python3 -m venv .venv") and tests.endswith("python -m pytest")
    assert "\n" not in main and "\n" not in tests  # one line each, to copy as is


def test_ci_runs_the_readme_test_command_verbatim():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci_lines
