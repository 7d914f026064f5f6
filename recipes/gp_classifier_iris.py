"""A sparse variational GP classifier on iris (3 classes): fit, evaluate, export.

    python recipes/gp_classifier_iris.py --dataset iris_offline   # bundled, offline
    python recipes/gp_classifier_iris.py                          # TFDS iris
    python recipes/gp_classifier_iris.py --set kernel=matern52

One latent GP per class with a softmax likelihood, 32 inducing inputs started on the training
data (k-means++ seeding) and an ARD squared-exponential kernel, trained by minibatch `fit` on
the ELBO (Hensman et al. 2015). `metrics.json` gains the predictive accuracy, NLL, Brier score
and ECE; the export's `serving_default` returns `logits` (log predictive probabilities),
`probabilities`, `classes` and `entropy`.
"""

from __future__ import annotations

import dataclasses

from zoo import training
from zoo.training import tasks


@dataclasses.dataclass
class Config(training.RecipeConfig):
    model: str = "gp_classifier"
    dataset: str = "iris"
    epochs: int = 300
    batch_size: int = 32
    learning_rate: float = 0.01
    train_split: str = "train[:80%]"  # TFDS' iris has only a train split
    validation_split: str | None = None
    test_split: str = "train[80%:]"
    progress: str = "epochs"
    model_config: dict = dataclasses.field(default_factory=lambda: {"num_inducing": 32})


def load_data(config: Config) -> training.RecipeData:
    return tasks.tabular_classification(config)


def main(argv=None) -> training.RunResult:
    config = training.parse_config(Config, argv, description=__doc__)
    return training.run(config, load_data)


if __name__ == "__main__":
    raise SystemExit(training.run_script(main))
