"""The project's own Keras 3 layers, activations and losses (public `keras` APIs only).

Importing this module registers every object with Keras' serialization under the `zoo>`
package prefix, so `.keras` files and `from_config` find them. `import zoo.layers` (or
`zoo.build`) before `keras.saving.load_model` on a zoo model.
"""

from zoo.layers.attention import AttentionPooling1D
from zoo.layers.lenet5 import ConnectionTableConv2D, Subsampling2D, lecun_tanh, LENET5_C3_TABLE
from zoo.layers.threshold import HeavisideStep, PerceptronLoss

__all__ = [
    "AttentionPooling1D",
    "ConnectionTableConv2D",
    "HeavisideStep",
    "LENET5_C3_TABLE",
    "PerceptronLoss",
    "Subsampling2D",
    "lecun_tanh",
]
