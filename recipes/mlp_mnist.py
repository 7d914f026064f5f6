"""A multilayer perceptron (784-256-128-10, ReLU, dropout) on MNIST: train, evaluate, export.

    python recipes/mlp_mnist.py                      # TFDS mnist
    python recipes/mlp_mnist.py --dataset digits     # bundled, offline
    python recipes/mlp_mnist.py --set hidden_units=512,256 --set dropout=0.3

Images are flattened by the model. The MLP has no rescaling layer of its own, so the recipe
scales pixels to [0, 1] with a `Rescaling` layer in the pipeline and exports the same layer in
front of the model: the SavedModel takes raw 0-255 pixels, like every image model's export.
A 784-256-128-10 MLP with dropout reaches about 98% on MNIST.
"""

from __future__ import annotations

import dataclasses

from zoo import training
from zoo.training import tasks


@dataclasses.dataclass
class Config(training.RecipeConfig):
    model: str = "mlp"
    dataset: str = "mnist"
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    augment: bool = False  # random shifts and rotations of training images
    model_config: dict = dataclasses.field(default_factory=lambda: {"dropout": 0.2})

    dataset_defaults = {"digits": {"epochs": 60}}


def load_data(config: Config) -> training.RecipeData:
    return tasks.image_classification(config, augment=config.augment, rescale=True)


def main(argv=None) -> training.RunResult:
    config = training.parse_config(Config, argv, description=__doc__)
    return training.run(config, load_data)


if __name__ == "__main__":
    raise SystemExit(training.run_script(main))
