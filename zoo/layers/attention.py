"""Attention pooling over time that respects the padding mask, and the weights it used.

`attention_model(model)` gives a model's attention weights (which time steps or tokens the
prediction drew on); exports of such models serve them as the `attention` signature.

Example:
    >>> model = zoo.build("lstm_text", vocab_size=100, input_shape=(12,))  # doctest: +SKIP
    >>> attention_model(model).predict(token_ids)  # (batch, 12), each row sums to 1  # doctest: +SKIP
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class AttentionPooling1D(keras.layers.Layer):
    """Additive attention pooling: sum_t a_t h_t with a = softmax_t(v · tanh(W h_t + b)).

    Padded steps (mask False) get exactly zero weight, so padding never changes the result.

    Args:
        units: int. Width of the attention projection W.

    Example:
        >>> AttentionPooling1D(32)(np.ones((2, 7, 16))).shape  # doctest: +SKIP
        (2, 16)
    """

    def __init__(self, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.supports_masking = True
        self.projection = keras.layers.Dense(self.units, activation="tanh", name="projection")
        self.score = keras.layers.Dense(1, use_bias=False, name="score")

    def build(self, input_shape):
        self.projection.build(input_shape)
        self.score.build((*input_shape[:-1], self.units))

    def attention_weights(self, inputs, mask=None):
        """a: (batch, time), a distribution over the unmasked steps (zero on masked ones)."""
        scores = ops.squeeze(self.score(self.projection(inputs)), axis=-1)  # (batch, time)
        if mask is not None:
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1)
        if mask is not None:
            weights = weights * ops.cast(mask, weights.dtype)  # exact zeros, even if all masked
        return weights

    def call(self, inputs, mask=None):
        weights = self.attention_weights(inputs, mask)
        return ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def attention_layer(model) -> AttentionPooling1D | None:
    """The model's `AttentionPooling1D` layer, or None."""
    found = [layer for layer in model.layers if isinstance(layer, AttentionPooling1D)]
    if len(found) > 1:
        raise ValueError(f"Model {model.name!r} has {len(found)} attention pooling layers; "
                         "attention_model reads a model with one.")
    return found[0] if found else None


def attention_model(model) -> keras.Model:
    """A model with `model`'s inputs and weights that outputs the attention weights of its
    `AttentionPooling1D` layer, (batch, time): a distribution over the unmasked steps, exact
    zeros on padding. Raises ValueError for a model without attention pooling.

    Example:
        >>> model = zoo.build("lstm_sequence", input_shape=(24, 1), attention_pooling=True)  # doctest: +SKIP
        >>> attention_model(model).predict(windows).shape  # doctest: +SKIP
        (8, 24)
    """
    layer = attention_layer(model)
    if layer is None:
        raise ValueError(f"Model {model.name!r} has no attention pooling layer (AttentionPooling1D): build it "
                         "with attention_pooling=True to see which steps a prediction uses.")
    received = layer.input  # the sequence, and the mask beside it when steps are masked
    sequence, mask = received if isinstance(received, (list, tuple)) else (received, None)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # the structure the model takes
    return keras.Model(inputs, layer.attention_weights(sequence, mask), name=f"{model.name}_attention")
