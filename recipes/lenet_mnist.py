"""LeNet (the catalog's modern variant) on MNIST: train, evaluate, export.

    python recipes/lenet_mnist.py                               # TFDS mnist, all defaults
    python recipes/lenet_mnist.py --dataset digits              # bundled, offline, ~15 s
    python recipes/lenet_mnist.py --dataset digits --strategy mirrored --set cpu_devices=2
    zoo train lenet_mnist --epochs 5                            # the same, through the CLI

Every MNIST-format dataset works unchanged (mnist, fashion_mnist, kmnist, digits). The
model takes raw 0-255 pixels: rescaling is its first layer, so the export does too.
"""

from __future__ import annotations

import dataclasses

from zoo import training
from zoo.training import tasks


@dataclasses.dataclass
class Config(training.RecipeConfig):
    model: str = "lenet"
    dataset: str = "mnist"
    # 12 epochs of Adam at batch 128 is where LeNet with dropout reaches ~99.2% on MNIST.
    epochs: int = 12
    batch_size: int = 128
    learning_rate: float = 1e-3
    augment: bool = False  # random shifts and rotations of training images

    # digits has 1,437 training images (MNIST 60,000): more epochs give it enough steps.
    dataset_defaults = {"digits": {"epochs": 60, "learning_rate": 2e-3}}


def load_data(config: Config) -> training.RecipeData:
    return tasks.image_classification(config, augment=config.augment)


def main(argv=None) -> training.RunResult:
    config = training.parse_config(Config, argv, description=__doc__)
    return training.run(config, load_data)


if __name__ == "__main__":
    raise SystemExit(training.run_script(main))
