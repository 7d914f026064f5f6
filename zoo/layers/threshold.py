"""Threshold units: the Heaviside step and the loss that turns SGD into the perceptron rule."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class HeavisideStep(keras.layers.Layer):
    """Heaviside step H(z) = 1 if z >= 0 else 0, optionally with a straight-through gradient.

    The forward value is exactly 0 or 1. With `straight_through=True` the gradient passes
    through as if the layer were the identity, which is what makes plain SGD on
    `PerceptronLoss` perform Rosenblatt's update (see there); with `False` the gradient is
    zero, as for the McCulloch–Pitts unit, which does not learn.

    Args:
        straight_through: bool. Pass gradients through unchanged.

    Example:
        >>> HeavisideStep()(np.array([[-0.5, 0.0, 2.0]]))  # doctest: +SKIP
        [[0., 1., 1.]]
    """

    def __init__(self, straight_through: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.straight_through = bool(straight_through)
        self.supports_masking = True

    def call(self, inputs):
        step = ops.stop_gradient(ops.cast(ops.greater_equal(inputs, 0), inputs.dtype))
        if not self.straight_through:
            return step
        # `z - stop_gradient(z)` is exactly 0 for finite z, so the value is exactly the step
        # (the common `z + stop_gradient(step - z)` rounds for large |z|).
        return step + (inputs - ops.stop_gradient(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "straight_through": self.straight_through}


@keras.saving.register_keras_serializable(package="zoo")
class PerceptronLoss(keras.losses.Loss):
    """½ (y − ŷ)² on a 0/1 step output: SGD on it *is* the perceptron learning rule.

    With ŷ = H(z), z = w·x + b and a straight-through step (∂ŷ/∂z = 1), the gradient is
    ∂L/∂w = (ŷ − y) x, so one SGD step with learning rate η gives w ← w + η (y − ŷ) x:
    Rosenblatt's Δw = η (y − ŷ) x, exactly (batch size 1; larger batches average it). The
    value is half the fraction of misclassified examples.

    Example:
        >>> model.compile(optimizer=keras.optimizers.SGD(1.0), loss=PerceptronLoss())  # doctest: +SKIP
    """

    def __init__(self, name: str = "perceptron_loss", reduction: str = "sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        return 0.5 * ops.mean(ops.square(y_true - y_pred), axis=-1)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}
