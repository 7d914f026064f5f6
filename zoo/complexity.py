"""Model size: parameter counts (any backend) and FLOPs per example (TensorFlow backend)."""

from __future__ import annotations

import math


def count_params(model) -> tuple[int, int]:
    """(trainable, non-trainable) scalar counts of a built Keras model.

    Example:
        >>> count_params(zoo.build("perceptron"))  # doctest: +SKIP
        (3, 0)
    """
    size = lambda weights: sum(math.prod(w.shape) for w in weights)  # noqa: E731
    return size(model.trainable_weights), size(model.non_trainable_weights)


def count_flops(model, input_shape) -> int:
    """Floating-point operations for one example (a multiply-add counts as two).

    Counted by TensorFlow's graph profiler on the frozen inference graph, so it needs the
    TensorFlow backend and a fixed `input_shape` (per example, without the batch).

    Example:
        >>> count_flops(zoo.build("lenet"), (28, 28, 1))  # doctest: +SKIP
        847430
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    dtype = model.inputs[0].dtype
    forward = tf.function(lambda x: model(x, training=False))
    concrete = forward.get_concrete_function(tf.TensorSpec((1, *input_shape), dtype))
    graph = convert_variables_to_constants_v2(concrete).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    profile = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(),
                                            cmd="op", options=options)
    return int(profile.total_float_ops)
