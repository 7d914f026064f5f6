"""Rosenblatt's perceptron on iris, setosa vs. versicolor (linearly separable): train, export.

    python recipes/perceptron_iris.py                           # TFDS iris
    python recipes/perceptron_iris.py --dataset iris_offline    # bundled, offline

The perceptron convergence theorem promises zero training errors in finitely many updates
on linearly separable data; setosa and versicolor are, so the recipe should reach 100%
accuracy. Batch size 1 makes each step exactly the perceptron rule w += eta (y - y_hat) x.
TFDS's iris has only a `train` split: 80% trains, 20% tests (TFDS stores examples shuffled).
"""

from __future__ import annotations

import dataclasses

from zoo import training
from zoo.training import tasks

SETOSA, VERSICOLOR = 0, 1


@dataclasses.dataclass
class Config(training.RecipeConfig):
    model: str = "perceptron"
    dataset: str = "iris"
    epochs: int = 10
    batch_size: int = 1  # one example per update: Rosenblatt's procedure
    learning_rate: float = 1.0
    train_split: str = "train[:80%]"
    validation_split: str | None = None
    test_split: str = "train[80%:]"


def load_data(config: Config) -> training.RecipeData:
    data = tasks.tabular_classification(config, keep_classes=(SETOSA, VERSICOLOR))
    del data.model_config["num_classes"]  # one threshold unit: 0 setosa, 1 versicolor
    return data


def main(argv=None) -> training.RunResult:
    config = training.parse_config(Config, argv, description=__doc__)
    return training.run(config, load_data)


if __name__ == "__main__":
    raise SystemExit(training.run_script(main))
