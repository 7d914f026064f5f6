"""Bayesian LeNet (Flipout layers) on MNIST: train, evaluate with uncertainty, export.

    python recipes/bayesian_lenet_mnist.py                    # TFDS mnist
    python recipes/bayesian_lenet_mnist.py --dataset digits   # bundled, offline

Besides the usual files, the model dir gets `reliability.png` and `metrics.json` gains the
Monte Carlo metrics (`mc_accuracy`, `nll`, `brier`, `ece` over `mc_samples` passes). The
KL weight is 1 / (training-set size), set from the data. The export's `serving_default`
returns MC-mean probabilities, the class and the predictive entropy; `sample` one pass.
"""

from __future__ import annotations

import dataclasses

from zoo import training
from zoo.training import tasks


@dataclasses.dataclass
class Config(training.RecipeConfig):
    model: str = "bayesian_lenet"
    dataset: str = "mnist"
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    mc_samples: int = 32  # Monte Carlo passes for evaluation and in the export

    dataset_defaults = {"digits": {"epochs": 60, "learning_rate": 2e-3}}


def load_data(config: Config) -> training.RecipeData:
    return tasks.image_classification(config)


def main(argv=None) -> training.RunResult:
    config = training.parse_config(Config, argv, description=__doc__)
    return training.run(config, load_data)


if __name__ == "__main__":
    raise SystemExit(training.run_script(main))
