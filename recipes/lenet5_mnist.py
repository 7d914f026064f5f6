"""LeNet-5 as published (LeCun et al. 1998) on MNIST: train, evaluate, export.

    python recipes/lenet5_mnist.py                    # TFDS mnist
    python recipes/lenet5_mnist.py --dataset digits   # bundled, offline
    python recipes/lenet5_mnist.py --set augment=true # the paper's distorted training set

The paper reports 0.95% test error without and 0.8% with distortions of the training images
(20 passes, a stochastic diagonal Levenberg-Marquardt method). Here Adam stands in for that
optimizer and cross-entropy for the MAP criterion (see zoo/models/lenet.py).
"""

from __future__ import annotations

import dataclasses

from zoo import training
from zoo.training import tasks


@dataclasses.dataclass
class Config(training.RecipeConfig):
    model: str = "lenet5"
    dataset: str = "mnist"
    epochs: int = 20  # the paper's 20 passes over the training set
    batch_size: int = 128
    learning_rate: float = 1e-3
    augment: bool = False

    dataset_defaults = {"digits": {"epochs": 60, "learning_rate": 2e-3}}


def load_data(config: Config) -> training.RecipeData:
    return tasks.image_classification(config, augment=config.augment)


def main(argv=None) -> training.RunResult:
    config = training.parse_config(Config, argv, description=__doc__)
    return training.run(config, load_data)


if __name__ == "__main__":
    raise SystemExit(training.run_script(main))
