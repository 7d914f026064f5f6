"""Exact Gaussian-process regression with TFP: `gp_regressor`.

The model is `zoo.models.gaussian_process.GaussianProcessRegressor`, a Keras 3 model whose
maths is TFP's (`tfd.GaussianProcess` for the marginal likelihood it maximises in `fit`,
`tfd.GaussianProcessRegressionModel` for predictions). It needs the TensorFlow backend.
"""

from __future__ import annotations

from zoo._lazy import lazy_import
from zoo.registry import InputSpec, Reference, register_model

keras = lazy_import("keras")
gaussian_process = lazy_import("zoo.models.gaussian_process")  # TensorFlow Probability: on first build

__all__ = ["gp_regressor"]

RASMUSSEN_2006 = Reference(
    "C. E. Rasmussen and C. K. I. Williams. Gaussian Processes for Machine Learning. MIT Press, "
    "2006 (chapters 2 and 5: exact regression, ARD kernels, marginal likelihood).",
    "https://gaussianprocess.org/gpml/")


def _compile_gp(model, config) -> None:
    # The loss is the model's own (negative log marginal likelihood); Adam on 4-12 numbers
    # converges in a few hundred full-batch steps at this rate.
    model.compile(optimizer=keras.optimizers.Adam(0.05))


@register_model(
    family="gp",
    task="regression",
    summary="Exact GP regression (TFP), ARD squared-exponential kernel: predictive mean and std.",
    input=InputSpec(value_range=(None, None)),
    output_shape=(None, 2),
    output="[mean, std] of the predictive Normal of a target (std includes observation noise)",
    head="mean_std",
    tags=("gaussian process", "uncertainty", "tfp", "kernel"),
    no_ensemble=("an exact GP's posterior is determined by its data and kernel hyperparameters, which it fits by "
                 "its own method; its predictive std is already its uncertainty."),
    reference=RASMUSSEN_2006,
    compile=_compile_gp,
    input_rank=1,
    params=(5, 1032),
    flops=None,
    backends=("tensorflow",),
)
def gp_regressor(input_shape=(3,), num_train_examples=256, amplitude=1.0, length_scale=1.0,
                 noise_variance=0.1, jitter=1e-6):
    """An exact GP that conditions on `num_train_examples` training examples (set it to the
    size of the training set; recipes do). Hyperparameters are initial values, in units of
    the standardised data; `fit` learns them by maximising the marginal likelihood.

    Example:
        >>> model = zoo.build("gp_regressor", input_shape=(3,), num_train_examples=200)  # doctest: +SKIP
        >>> model.fit(x, y, epochs=200, verbose=0)  # doctest: +SKIP
        >>> model.length_scales  # short for the features that matter  # doctest: +SKIP
    """
    return gaussian_process.GaussianProcessRegressor(
        num_features=input_shape[0], num_train_examples=num_train_examples, amplitude=amplitude,
        length_scale=length_scale, noise_variance=noise_variance, jitter=jitter, name="gp_regressor")
