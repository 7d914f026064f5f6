"""Bayesian neural networks whose layers are `zoo.layers.variational` (TFP maths, Keras 3).

Every forward pass samples weights from the posterior, so predictions are random draws;
`zoo.uncertainty.predict_with_uncertainty` averages many of them. The KL term is added by
the layers and scaled by 1 / `num_train_examples`, so training minimises the negative ELBO
per example: set `num_train_examples` to the size of the training set.

These models need the TensorFlow backend (TFP runs on TensorFlow).
"""

from __future__ import annotations

from zoo._lazy import lazy_import
from zoo.heads import classifier_head, logits_head
from zoo.models._compile import compile_bayesian_classifier
from zoo.models.lenet import PIXELS
from zoo.registry import InputSpec, Reference, register_model
from zoo.validation import check_lenet_geometry, one_of

keras = lazy_import("keras")
variational = lazy_import("zoo.layers.variational")  # TensorFlow Probability: on first build

__all__ = ["bayesian_lenet", "bayesian_mlp"]

WEN_2018 = Reference(
    "Y. Wen, P. Vicol, J. Ba, D. Tran and R. Grosse. Flipout: Efficient pseudo-independent "
    "weight perturbations on mini-batches. ICLR 2018.", "https://arxiv.org/abs/1803.04386")
BLUNDELL_2015 = Reference(
    "C. Blundell, J. Cornebise, K. Kavukcuoglu and D. Wierstra. Weight uncertainty in neural "
    "networks. ICML 2015.", "https://arxiv.org/abs/1505.05424")


def _compile_bayesian_mlp(model, config) -> None:
    if config["task"] == "classification":
        compile_bayesian_classifier(model, config)
    else:  # the loss adds the KL term; `data_nll` reports the Gaussian NLL alone
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=variational.GaussianNLL(),
                      metrics=[keras.metrics.MeanMetricWrapper(variational.gaussian_nll, name="data_nll")])


def _bayesian_mlp_head(config) -> str:
    return classifier_head(config["num_classes"]) if config["task"] == "classification" else "normal"


def _check_task(config) -> None:
    one_of("classification", "regression")("task", config["task"])


@register_model(
    family="bayesian",
    task="tabular classification",
    summary="Bayesian MLP (Flipout dense layers): class logits, or a Normal mean and std (task=).",
    input=InputSpec(value_range=(0.0, 1.0)),
    output_shape=lambda c: (None, c["num_classes"] if c["task"] == "classification" else 2 * c["num_outputs"]),
    output="logits (classification) or [means, raw scales] of a Normal (regression)",
    head=_bayesian_mlp_head,
    tags=("bayesian", "uncertainty", "tfp"),
    reference=BLUNDELL_2015,
    compile=_compile_bayesian_mlp,
    validate=_check_task,
    deterministic=False,
    params=(469898, 3),
    flops=None,
    backends=("tensorflow",),
)
def bayesian_mlp(input_shape=(784,), task="classification", num_classes=10, num_outputs=1,
                 hidden_units=(256, 128), activation="relu", num_train_examples=60000,
                 prior_std=1.0, posterior_std_init=1e-3, seed=0):
    """A multilayer perceptron of `DenseFlipout` layers; inputs of any rank are flattened.

    Example:
        >>> model = zoo.build("bayesian_mlp", input_shape=(4,), num_classes=3, num_train_examples=120)  # doctest: +SKIP
    """
    common = dict(num_train_examples=num_train_examples, prior_std=prior_std,
                  posterior_std_init=posterior_std_init)
    inputs = keras.Input(input_shape, name="inputs")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    for i, units in enumerate(hidden_units):
        x = variational.DenseFlipout(units, activation=activation, seed=seed + i, name=f"dense_{i + 1}", **common)(x)
    width = num_classes if task == "classification" else 2 * num_outputs
    name = "logits" if task == "classification" else "normal_params"
    outputs = variational.DenseFlipout(width, seed=seed + len(hidden_units), name=name, **common)(x)
    return keras.Model(inputs, outputs)


@register_model(
    family="bayesian",
    task="image classification",
    summary="Bayesian LeNet: Flipout convolutions and dense layers over LeNet's layout.",
    input=PIXELS,
    tags=("bayesian", "uncertainty", "tfp", "convolutional", "mnist"),
    reference=WEN_2018,
    head=logits_head,
    compile=compile_bayesian_classifier,
    validate=check_lenet_geometry,
    input_rank=3,
    deterministic=False,
    params=(123176, 5),
    flops=None,
    backends=("tensorflow",),
)
def bayesian_lenet(input_shape=(28, 28, 1), num_classes=10, filters=(6, 16), kernel_size=5,
                   dense_units=(120, 84), num_train_examples=60000, prior_std=1.0,
                   posterior_std_init=1e-3, seed=0):
    """LeNet's layout (as `lenet`, without dropout) with `Conv2DFlipout` and `DenseFlipout`.

    Takes raw 0-255 pixels like `lenet`. LeCun et al. (1998) for the layout; Wen et al.
    (2018) for Flipout.

    Example:
        >>> model = zoo.build("bayesian_lenet", num_train_examples=60000)  # doctest: +SKIP
    """
    common = dict(num_train_examples=num_train_examples, prior_std=prior_std,
                  posterior_std_init=posterior_std_init)
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = variational.Conv2DFlipout(filters[0], kernel_size, padding="same", activation="relu",
                                  seed=seed, name="conv_1", **common)(x)
    x = keras.layers.MaxPooling2D(2, name="pool_1")(x)
    x = variational.Conv2DFlipout(filters[1], kernel_size, activation="relu", seed=seed + 1,
                                  name="conv_2", **common)(x)
    x = keras.layers.MaxPooling2D(2, name="pool_2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units):
        x = variational.DenseFlipout(units, activation="relu", seed=seed + 2 + i,
                                     name=f"dense_{i + 1}", **common)(x)
    outputs = variational.DenseFlipout(num_classes, seed=seed + 2 + len(dense_units),
                                       name="logits", **common)(x)
    return keras.Model(inputs, outputs)
