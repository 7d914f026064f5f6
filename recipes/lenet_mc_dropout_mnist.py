"""LeNet with MC dropout (dropout kept on at prediction) on MNIST: the cheap Bayesian baseline.

    python recipes/lenet_mc_dropout_mnist.py                     # TFDS mnist
    python recipes/lenet_mc_dropout_mnist.py --dataset digits    # bundled, offline

Gal and Ghahramani (2016): a network trained with dropout, run with dropout on, gives
samples from an approximate posterior predictive. Same network and training as
`lenet_mnist`, with `mc_dropout=True`; evaluation averages `mc_samples` passes and reports
the same uncertainty metrics as `bayesian_lenet_mnist` (`mc_accuracy`, `nll`, `brier`, `ece`,
`ood_auroc`, `reliability.png`), so the two compare directly. Exports as
`saved_models/lenet_mc_dropout/` (MC-mean probabilities, class, entropy; `sample`: one pass).
"""

from __future__ import annotations

import dataclasses

from zoo import training
from zoo.training import tasks


@dataclasses.dataclass
class Config(training.RecipeConfig):
    model: str = "lenet"
    dataset: str = "mnist"
    epochs: int = 12
    batch_size: int = 128
    learning_rate: float = 1e-3
    mc_samples: int = 32  # Monte Carlo passes for evaluation and in the export
    export_name: str | None = "lenet_mc_dropout"
    model_config: dict = dataclasses.field(default_factory=lambda: {"mc_dropout": True})

    dataset_defaults = {"digits": {"epochs": 60, "learning_rate": 2e-3}}


def load_data(config: Config) -> training.RecipeData:
    return tasks.image_classification(config)


def main(argv=None) -> training.RunResult:
    config = training.parse_config(Config, argv, description=__doc__)
    return training.run(config, load_data)


if __name__ == "__main__":
    raise SystemExit(training.run_script(main))
