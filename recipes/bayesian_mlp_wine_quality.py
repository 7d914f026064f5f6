"""A Bayesian MLP regressor (Flipout layers, heteroscedastic Normal output) on wine quality.

    python recipes/bayesian_mlp_wine_quality.py                       # TFDS wine_quality/red
    python recipes/bayesian_mlp_wine_quality.py --dataset diabetes    # bundled, offline

The network outputs a Normal per input (a mean and a std, so it learns how noisy each
target is: aleatoric uncertainty) and trains by its negative log-likelihood plus the
layers' KL term (the negative ELBO). Its weights are random, so predictions average
`mc_samples` passes, whose spread is the epistemic uncertainty. Inputs and targets are
standardised on the training split; metrics and the export are in target units.
`metrics.json` gains RMSE, Gaussian NLL, 95%-interval coverage and mean std;
`predictions.png` plots the predictions with their intervals. The export's
`serving_default` returns `mean`, `std`, `aleatoric_std` and `epistemic_std`; `sample`
returns one pass.
"""

from __future__ import annotations

import dataclasses

from zoo import training
from zoo.training import tasks


@dataclasses.dataclass
class Config(training.RecipeConfig):
    model: str = "bayesian_mlp"
    dataset: str = "wine_quality/red"
    epochs: int = 200
    batch_size: int = 64
    learning_rate: float = 3e-3
    mc_samples: int = 32  # Monte Carlo passes for evaluation and in the export
    train_split: str = "train[:80%]"  # TFDS' wine_quality has only a train split
    validation_split: str | None = None
    test_split: str = "train[80%:]"
    export_name: str | None = "bayesian_mlp_wine_quality"
    # Small data: one hidden layer of 32 and a wider initial posterior (measured on diabetes:
    # (64, 64) at the default 1e-3 stayed dominated by the KL term, RMSE 72, coverage 0.73).
    model_config: dict = dataclasses.field(default_factory=lambda: {
        "task": "regression", "hidden_units": (32,), "posterior_std_init": 0.05})

    dataset_defaults = {"diabetes": {"train_split": "train", "test_split": "test",
                                     "export_name": "bayesian_mlp_diabetes"}}


def load_data(config: Config) -> training.RecipeData:
    return tasks.tabular_regression(config)


def main(argv=None) -> training.RunResult:
    config = training.parse_config(Config, argv, description=__doc__)
    return training.run(config, load_data)


if __name__ == "__main__":
    raise SystemExit(training.run_script(main))
