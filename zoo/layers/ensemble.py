"""The Keras pieces of a deep ensemble (`zoo.ensembles`): the layer that stacks the members'
outputs, the loss that trains each member on its own loss, and metrics of the combined
prediction. Public `keras` APIs only, so ensembles train on any backend.
"""

from __future__ import annotations

import keras

from zoo import heads


@keras.saving.register_keras_serializable(package="zoo")
class StackMembers(keras.layers.Layer):
    """Stacks a list of same-shaped outputs on axis 1: N members' (batch, units) become
    (batch, N, units)."""

    def call(self, inputs):
        return keras.ops.stack(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        first = tuple(input_shape[0])
        return (first[0], len(input_shape), *first[1:])


@keras.saving.register_keras_serializable(package="zoo")
class EnsembleLoss(keras.losses.Loss):
    """The sum over members of `member` (a Keras loss, or its name) on each member's outputs.

    y_pred is (batch, N, units) and y_true the usual targets; per example it returns
    sum_i member(y_true, y_pred[:, i]), so the gradient with respect to a member's weights is
    that of its own loss alone (members share no weights).

    Example:
        >>> loss = EnsembleLoss(keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # doctest: +SKIP
    """

    def __init__(self, member="mse", name: str = "ensemble_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(member, dict):
            member = keras.losses.deserialize(member)
        self.member = member
        self._per_example = member if isinstance(member, keras.losses.Loss) else keras.losses.get(member)

    def call(self, y_true, y_pred):
        members = y_pred.shape[1]
        flat = keras.ops.reshape(y_pred, (-1, *y_pred.shape[2:]))
        targets = keras.ops.repeat(y_true, members, axis=0)  # row b*N + i is member i's copy of example b
        per = self._per_example.call(targets, flat) if isinstance(self._per_example, keras.losses.Loss) \
            else self._per_example(targets, flat)
        per = keras.ops.reshape(per, (-1, members, int(_size(per.shape[1:]))))
        return keras.ops.mean(keras.ops.sum(per, axis=1), axis=-1)

    def get_config(self):
        member = self.member if isinstance(self.member, str) else keras.losses.serialize(self.member)
        return {**super().get_config(), "member": member}


def _size(shape) -> int:
    size = 1
    for dim in shape:
        size *= dim
    return size


class _EnsembleMetric(keras.metrics.Mean):
    """A running mean of a per-example score of the ensemble's combined prediction."""

    def __init__(self, member: str = "logits", name: str | None = None, dtype=None):
        super().__init__(name=name or self.default_name, dtype=dtype)
        self.member = member

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(self.score(y_true, keras.ops.cast(y_pred, "float32")), sample_weight)

    def get_config(self):
        return {"member": self.member, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="zoo")
class EnsembleAccuracy(_EnsembleMetric):
    """Accuracy of the class with the highest mean probability over the members."""

    default_name = "accuracy"

    def score(self, y_true, y_pred):
        mean = keras.ops.mean(heads.get(self.member).probabilities(y_pred), axis=1)
        predicted = keras.ops.argmax(mean, axis=-1)
        return keras.ops.cast(predicted == keras.ops.cast(keras.ops.reshape(y_true, (-1,)), predicted.dtype),
                              "float32")


@keras.saving.register_keras_serializable(package="zoo")
class EnsembleMeanAbsoluteError(_EnsembleMetric):
    """Mean absolute error of the members' mean prediction (the means of Normal members)."""

    default_name = "mae"

    def score(self, y_true, y_pred):
        member = heads.get(self.member)
        locations = y_pred[..., :member.targets(y_pred.shape[-1])]
        mean = keras.ops.mean(locations, axis=1)
        return keras.ops.mean(keras.ops.abs(mean - keras.ops.reshape(keras.ops.cast(y_true, mean.dtype),
                                                                      keras.ops.shape(mean))), axis=-1)
