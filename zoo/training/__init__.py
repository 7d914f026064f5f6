"""Training: recipe configs, strategy selection and the run every recipe shares.

Parsing a recipe's command line (`parse_config`, `run_script`) does not import TensorFlow, so
`--help` and a mistyped flag answer at once; `run`, `RecipeData`, the strategies and `tasks`
load TensorFlow (quietly, `zoo.console`) when first used.

Example:
    >>> from zoo import training
    >>> config = training.parse_config(Config, ["--dataset", "digits"])  # doctest: +SKIP
    >>> result = training.run(config, load_data)  # doctest: +SKIP
"""

from zoo._lazy import lazy_attributes
from zoo.training.config import PRECISIONS, STRATEGIES, RecipeConfig, parse_config
from zoo.training.script import RunError, run_script

# Names that need TensorFlow, and the module that defines each ("": the module itself, so
# `from zoo.training import tasks` at a recipe's top loads it on first use).
__getattr__ = lazy_attributes(__name__, {
    "RecipeData": "recipe", "RunResult": "recipe", "run": "recipe",
    "select_strategy": "strategy", "split_cpu": "strategy",
    "tasks": "", "recipe": "", "strategy": "", "multi_worker": ""})


__all__ = ["PRECISIONS", "STRATEGIES", "RecipeConfig", "RecipeData", "RunError", "RunResult",
           "parse_config", "run", "run_script", "select_strategy", "split_cpu"]
