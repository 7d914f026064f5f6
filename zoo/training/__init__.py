"""Training: recipe configs, strategy selection and the run every recipe shares.

Parsing a recipe's command line (`parse_config`, `run_script`) does not import TensorFlow, so
`--help` and a mistyped flag answer at once; `run`, `RecipeData`, the strategies and `tasks`
load TensorFlow (quietly, `zoo.console`) when first used.

Example:
    >>> from zoo import training
    >>> config = training.parse_config(Config, ["--dataset", "digits"])  # doctest: +SKIP
    >>> result = training.run(config, load_data)  # doctest: +SKIP
"""

import importlib

from zoo._lazy import lazy_import
from zoo.training.config import PRECISIONS, STRATEGIES, RecipeConfig, parse_config
from zoo.training.script import RunError, run_script

# Names that need TensorFlow, and the module that defines each.
_DEFERRED = {"RecipeData": "recipe", "RunResult": "recipe", "run": "recipe",
             "select_strategy": "strategy", "split_cpu": "strategy"}
_DEFERRED_MODULES = ("tasks", "recipe", "strategy", "multi_worker")


def __getattr__(name):
    if name in _DEFERRED_MODULES:  # `from zoo.training import tasks` at a recipe's top: loads on first use
        return lazy_import(f"zoo.training.{name}")
    if name in _DEFERRED:
        return getattr(importlib.import_module(f"zoo.training.{_DEFERRED[name]}"), name)
    raise AttributeError(f"module 'zoo.training' has no attribute {name!r}")


__all__ = ["PRECISIONS", "STRATEGIES", "RecipeConfig", "RecipeData", "RunError", "RunResult",
           "parse_config", "run", "run_script", "select_strategy", "split_cpu"]
