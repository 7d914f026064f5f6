"""Training: recipe configs, strategy selection and the run every recipe shares.

Example:
    >>> from zoo import training
    >>> config = training.parse_config(Config, ["--dataset", "digits"])  # doctest: +SKIP
    >>> result = training.run(config, load_data)  # doctest: +SKIP
"""

from zoo.training.config import PRECISIONS, STRATEGIES, RecipeConfig, parse_config
from zoo.training.recipe import RecipeData, RunResult, run, run_script
from zoo.training.strategy import select_strategy, split_cpu

__all__ = ["PRECISIONS", "STRATEGIES", "RecipeConfig", "RecipeData", "RunResult",
           "parse_config", "run", "run_script", "select_strategy", "split_cpu"]
