"""A Bayesian MLP classifier (Flipout dense layers) on MNIST: train, evaluate with uncertainty, export.

    python recipes/bayesian_mlp_mnist.py                     # TFDS mnist
    python recipes/bayesian_mlp_mnist.py --dataset digits    # bundled, offline

Like `mlp_mnist`, pixels are scaled to [0, 1] by a `Rescaling` layer that the export keeps in
front of the model (the SavedModel takes raw 0-255 pixels). Weights are random draws from
the posterior; evaluation averages `mc_samples` passes. `metrics.json` gains `mc_accuracy`,
`nll`, `brier`, `ece` and `ood_auroc` (predictive entropy, test images against uniform
noise), and the model dir `reliability.png`. The export's `serving_default` returns MC-mean
probabilities, the class and the predictive entropy; `sample` one pass.
"""

from __future__ import annotations

import dataclasses

from zoo import training
from zoo.training import tasks


@dataclasses.dataclass
class Config(training.RecipeConfig):
    model: str = "bayesian_mlp"
    dataset: str = "mnist"
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    mc_samples: int = 32  # Monte Carlo passes for evaluation and in the export

    dataset_defaults = {"digits": {"epochs": 60, "learning_rate": 2e-3}}


def load_data(config: Config) -> training.RecipeData:
    return tasks.image_classification(config, rescale=True)


def main(argv=None) -> training.RunResult:
    config = training.parse_config(Config, argv, description=__doc__)
    return training.run(config, load_data)


if __name__ == "__main__":
    raise SystemExit(training.run_script(main))
