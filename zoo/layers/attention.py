"""Attention pooling over time that respects the padding mask."""

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

    def call(self, inputs, mask=None):
        scores = ops.squeeze(self.score(self.projection(inputs)), axis=-1)  # (batch, time)
        if mask is not None:
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1)
        if mask is not None:
            weights = weights * ops.cast(mask, weights.dtype)  # exact zeros, even if all masked
        return ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "units": self.units}
