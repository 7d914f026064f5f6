"""The parts of LeNet-5 (LeCun et al., 1998) that Keras has no layer for.

- `Subsampling2D`: LeNet-5's S2/S4 layers: each unit sums a 2×2 neighbourhood, multiplies it
  by a trainable coefficient and adds a trainable bias, one pair per feature map (12 and
  32 trainable parameters in S2 and S4, as in the paper).
- `ConnectionTableConv2D`: the C3 layer, where each output map sees only some input maps
  (the paper's Table I), giving 1,516 trainable parameters instead of a full conv's 2,416.
- `lecun_tanh`: the paper's squashing function f(a) = 1.7159 tanh(2a/3).
"""

from __future__ import annotations

import numpy as np

import keras
from keras import ops

# LeNet-5's Table I: which S2 maps (0-5) feed each C3 map (0-15). Maps 0-5 take three
# contiguous maps, 6-11 four contiguous, 12-14 four discontinuous, 15 all six.
LENET5_C3_TABLE: tuple[tuple[int, ...], ...] = (
    *(tuple((j + i) % 6 for i in range(3)) for j in range(6)),
    *(tuple((j + i) % 6 for i in range(4)) for j in range(6)),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


@keras.saving.register_keras_serializable(package="zoo")
def lecun_tanh(x):
    """LeCun's scaled tanh, 1.7159 tanh(2x/3): f(±1) = ±1 and unit gain near the origin.

    Example:
        >>> keras.layers.Dense(84, activation=lecun_tanh)  # doctest: +SKIP
    """
    return 1.7159 * ops.tanh(x * (2.0 / 3.0))


@keras.saving.register_keras_serializable(package="zoo")
class Subsampling2D(keras.layers.Layer):
    """Sum-pooling with a trainable coefficient and bias per channel, then an activation.

    Args:
        pool_size: int. Side of the square, non-overlapping pooling window.
        activation: activation name or function applied after the affine map.

    Example:
        >>> Subsampling2D(2, activation=lecun_tanh)(np.ones((1, 28, 28, 6))).shape  # doctest: +SKIP
        (1, 14, 14, 6)
    """

    def __init__(self, pool_size: int = 2, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.coefficient = self.add_weight(shape=(channels,), initializer="ones", name="coefficient")
        self.bias = self.add_weight(shape=(channels,), initializer="zeros", name="bias")

    def call(self, inputs):
        window = self.pool_size
        summed = ops.average_pool(inputs, window, strides=window, padding="valid") * (window * window)
        return self.activation(summed * self.coefficient + self.bias)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        shrink = lambda n: None if n is None else n // self.pool_size  # noqa: E731
        return (batch, shrink(height), shrink(width), channels)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size,
                "activation": keras.activations.serialize(self.activation)}


@keras.saving.register_keras_serializable(package="zoo")
class ConnectionTableConv2D(keras.layers.Layer):
    """A 'valid' convolution in which output map j sees only the input maps `connections[j]`.

    Only the connected kernels are weights (so parameter counts match the paper); the full
    kernel is assembled from them by a constant 0/1 matrix, so the layer is one convolution.

    Args:
        connections: for each output map, the indices of the input maps it reads.
        kernel_size: int. Side of the square kernel.
        activation: activation name or function.

    Example:
        >>> c3 = ConnectionTableConv2D(LENET5_C3_TABLE, kernel_size=5)
        >>> c3(np.zeros((1, 14, 14, 6), "float32")).shape  # doctest: +SKIP
        (1, 10, 10, 16)
        >>> c3.count_params()  # the paper's 1,516, where a full conv has 2,416  # doctest: +SKIP
        1516
    """

    def __init__(self, connections, kernel_size: int = 5, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.connections = [sorted(int(i) for i in inputs) for inputs in connections]
        if not self.connections or not all(self.connections):
            raise ValueError("`connections` must list at least one input map for every output "
                             f"map. Received: connections={connections!r}")
        self.kernel_size = int(kernel_size)
        self.activation = keras.activations.get(activation)
        self.filters = len(self.connections)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        highest = max(max(inputs) for inputs in self.connections)
        if highest >= in_channels:
            raise ValueError(f"`connections` reads input map {highest}, but the input has "
                             f"{in_channels} channels. Received input_shape={input_shape}")
        pairs = [(i, j) for j, inputs in enumerate(self.connections) for i in inputs]
        scatter = np.zeros((len(pairs), in_channels * self.filters), dtype="float32")
        for row, (i, j) in enumerate(pairs):
            scatter[row, i * self.filters + j] = 1.0
        self._scatter = scatter
        self._in_channels = in_channels
        # Glorot-uniform with the table's real average fan-in and fan-out: a dense formula
        # would count the kernels that are not there.
        area = self.kernel_size**2
        fan_in, fan_out = area * len(pairs) / self.filters, area * len(pairs) / in_channels
        limit = (6.0 / (fan_in + fan_out)) ** 0.5
        self.kernel = self.add_weight(
            shape=(self.kernel_size, self.kernel_size, len(pairs)), name="kernel",
            initializer=keras.initializers.RandomUniform(-limit, limit),
        )
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def full_kernel(self):
        """The dense (k, k, in, out) kernel with zeros where maps are not connected."""
        k = self.kernel_size
        flat = ops.reshape(self.kernel, (k * k, -1))
        scatter = ops.convert_to_tensor(self._scatter, dtype=self.kernel.dtype)
        return ops.reshape(ops.matmul(flat, scatter), (k, k, self._in_channels, self.filters))

    def call(self, inputs):
        kernel = ops.cast(self.full_kernel(), inputs.dtype)
        return self.activation(ops.conv(inputs, kernel, strides=1, padding="valid") + self.bias)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        shrink = lambda n: None if n is None else n - self.kernel_size + 1  # noqa: E731
        return (batch, shrink(height), shrink(width), self.filters)

    def get_config(self):
        return {**super().get_config(), "connections": self.connections,
                "kernel_size": self.kernel_size,
                "activation": keras.activations.serialize(self.activation)}
