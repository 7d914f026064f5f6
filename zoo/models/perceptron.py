"""Threshold units: the McCulloch–Pitts neuron (1943) and Rosenblatt's perceptron (1958).

Both compute H(w·x + b) with the Heaviside step H (H(0) = 1). The McCulloch–Pitts unit's
weights and threshold are set by hand and never learn; the perceptron learns them with
Rosenblatt's rule Δw = η (y − ŷ) x, which here is plain SGD on `zoo.layers.PerceptronLoss`.
"""

from __future__ import annotations

from zoo._lazy import lazy_import
from zoo.models._compile import compile_threshold_unit
from zoo.registry import InputSpec, Reference, register_model

keras = lazy_import("keras")
zoo_layers = lazy_import("zoo.layers")

__all__ = ["mp_neuron", "perceptron"]


def _threshold_unit(name: str, inputs, dense, straight_through: bool):
    step = zoo_layers.HeavisideStep(straight_through=straight_through, name="step")
    return keras.Model(inputs, step(dense(inputs)), name=name)


@register_model(
    family="mp_neuron",
    task="binary classification",
    summary="McCulloch-Pitts threshold unit: fixed weights and threshold, 0/1 step output.",
    input=InputSpec(shape=lambda config: (len(config["weights"]),), value_range=(0, 1),
                    integer=True),
    output_shape=(None, 1),
    output="0/1 step: 1 when w·x >= threshold",
    head="classes",
    tags=("classic", "threshold-unit", "untrainable"),
    no_ensemble="its weights are fixed by its config, so every member would be the same neuron.",
    reference=Reference(
        "W. S. McCulloch and W. Pitts. A logical calculus of the ideas immanent in nervous "
        "activity. Bulletin of Mathematical Biophysics 5, 115-133 (1943).",
        "https://doi.org/10.1007/BF02478259"),
    compile=compile_threshold_unit,
    params=(0, 3),
    flops=6,
)
def mp_neuron(weights=(0.5, 0.5), threshold=0.8):
    """Fires (1) when Σ wᵢxᵢ >= threshold. The defaults compute AND of two binary inputs;
    weights (1, 1) with threshold 1 compute OR; a negative weight is an inhibitory input."""
    inputs = keras.Input((len(weights),), name="inputs")
    weighted_sum = keras.layers.Dense(
        1, trainable=False, name="weighted_sum",
        kernel_initializer=keras.initializers.Constant([[w] for w in weights]),
        bias_initializer=keras.initializers.Constant(-threshold))
    return _threshold_unit("mp_neuron", inputs, weighted_sum, straight_through=False)


@register_model(
    family="perceptron",
    task="binary classification",
    summary="Rosenblatt's perceptron: linear unit, step output, perceptron learning rule.",
    input=InputSpec(value_range=(None, None)),
    output_shape=(None, 1),
    output="0/1 step: 1 when w·x + b >= 0",
    head="classes",
    tags=("classic", "threshold-unit", "linear"),
    no_ensemble=("its weights start at zero, as in Rosenblatt's procedure, and the perceptron rule is "
                 "deterministic, so every member would learn the same weights."),
    reference=Reference(
        "F. Rosenblatt. The perceptron: a probabilistic model for information storage and "
        "organization in the brain. Psychological Review 65(6), 386-408 (1958).",
        "https://doi.org/10.1037/h0042519"),
    compile=compile_threshold_unit,
    input_rank=1,
    params=(3, 0),
    flops=8,
)
def perceptron(input_shape=(2,), learning_rate=1.0):
    """Weights start at zero, as in Rosenblatt's procedure; `learning_rate` is η. Train with
    batch size 1 for the classic online rule (larger batches apply the averaged rule)."""
    inputs = keras.Input(input_shape, name="inputs")
    linear = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros",
                                name="linear")
    return _threshold_unit("perceptron", inputs, linear, straight_through=True)
