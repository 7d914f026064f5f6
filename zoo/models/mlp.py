"""Multilayer perceptrons (Rumelhart, Hinton & Williams, 1986): the configurable MLP."""

from __future__ import annotations

from zoo._lazy import lazy_import
from zoo.heads import classifier_head
from zoo.models._compile import compile_by_head
from zoo.registry import InputSpec, Reference, register_model
from zoo.validation import check_mc_dropout

keras = lazy_import("keras")
zoo_layers = lazy_import("zoo.layers")

__all__ = ["mlp"]


def _regularizer(l1: float, l2: float):
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None


def _check_activations(config) -> None:
    for key in ("activation", "output_activation"):
        name = config[key]
        if name is None:
            continue
        try:
            keras.activations.get(name)
        except (ValueError, TypeError):
            raise ValueError(
                f"`{key}` must name a Keras activation such as 'relu', 'tanh' or 'sigmoid'. "
                f"Received: {key}={name!r}") from None


def _head(config) -> str:
    """Logits without an output activation; probabilities after sigmoid or softmax; any other
    activation makes the MLP a regressor of plain values."""
    activation = config["output_activation"]
    if activation in (None, "sigmoid", "softmax"):
        return classifier_head(config["num_classes"], activation)
    return "values"


@register_model(
    family="mlp",
    task="tabular classification",
    summary="Configurable multilayer perceptron: dense layers, dropout, L1/L2, batch norm.",
    input=InputSpec(value_range=(0.0, 1.0)),
    output_shape=(None, "num_classes"),
    output="logits (or `output_activation` applied)",
    head=_head,
    tags=("classic", "dense"),
    reference=Reference(
        "D. E. Rumelhart, G. E. Hinton and R. J. Williams. Learning representations by "
        "back-propagating errors. Nature 323, 533-536 (1986).",
        "https://doi.org/10.1038/323533a0"),
    compile=compile_by_head,
    params=(235146, 0),
    flops=469898,
)
def mlp(input_shape=(784,), num_classes=10, hidden_units=(256, 128), activation="relu",
        output_activation=None, dropout=0.0, l1=0.0, l2=0.0, batch_norm=False, mc_dropout=False):
    """Inputs of any rank are flattened; `num_classes` is the number of output units (one
    unit with no activation is a binary classifier's logit). With `batch_norm`, each hidden
    layer is Dense → BatchNormalization → activation; dropout follows each hidden layer.
    `mc_dropout=True` keeps dropout on at prediction time too (MC dropout, Gal & Ghahramani
    2016): every prediction is a sample, for `zoo.uncertainty.predict_with_uncertainty`."""
    check_mc_dropout(mc_dropout, dropout)
    # Checked here, not at registration: naming Keras' activations needs Keras loaded.
    _check_activations({"activation": activation, "output_activation": output_activation})
    regularizer = _regularizer(l1, l2)
    inputs = keras.Input(input_shape, name="inputs")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    for i, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, use_bias=not batch_norm, kernel_regularizer=regularizer,
                               activation=None if batch_norm else activation, name=f"dense_{i}")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"batch_norm_{i}")(x)
            x = keras.layers.Activation(activation, name=f"activation_{i}")(x)
        if dropout:
            drop = zoo_layers.MCDropout if mc_dropout else keras.layers.Dropout
            x = drop(dropout, name=f"dropout_{i}")(x)
    outputs = keras.layers.Dense(num_classes, activation=output_activation,
                                 kernel_regularizer=regularizer, name="output")(x)
    return keras.Model(inputs, outputs, name="mlp")
