"""Forecasting relative to the last observation: a window enters the network as its
differences from its last step, and the last value is added back to the forecast.

A trending series (Mauna Loa CO2) leaves the range it was trained on; a network that sees
and predicts only changes from the last observation forecasts it wherever it goes. Both
layers are inside the model, so an export takes the raw window and returns the forecast in
the same units.

Example:
    >>> import numpy as np
    >>> window = np.array([[[1.0], [2.0], [4.0]]], "float32")
    >>> DifferenceFromLast()(window)[0, :, 0].numpy().tolist()
    [-3.0, -2.0, 0.0]
    >>> AddLast(units=2)(np.zeros((1, 4), "float32"), window).numpy().tolist()  # [means, scales]
    [[4.0, 4.0, 0.0, 0.0]]
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="zoo")
class DifferenceFromLast(keras.layers.Layer):
    """(batch, time, features) -> each step minus the last step."""

    def call(self, sequence):
        return sequence - sequence[:, -1:, :]


@keras.saving.register_keras_serializable(package="zoo")
class AddLast(keras.layers.Layer):
    """Adds the last step's first feature of `sequence` to the first `units` outputs (the
    forecast values or a Normal's means) and passes any others (its scales) through."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def call(self, outputs, sequence):
        last = sequence[:, -1, :1]  # (batch, 1)
        shift = keras.ops.concatenate(
            [keras.ops.repeat(last, self.units, axis=1),
             keras.ops.zeros((keras.ops.shape(outputs)[0], outputs.shape[-1] - self.units), outputs.dtype)], axis=1)
        return outputs + shift

    def compute_output_shape(self, outputs_shape, sequence_shape=None):
        return outputs_shape

    def get_config(self):
        return {**super().get_config(), "units": self.units}
