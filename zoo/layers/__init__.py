"""The project's own Keras 3 layers, activations and losses (public `keras` APIs only).

Importing this module registers every object with Keras' serialization under the `zoo>`
package prefix, so `.keras` files and `from_config` find them. `import zoo.layers` (or
`zoo.build`) before `keras.saving.load_model` on a zoo model.

The variational layers (`DenseFlipout`, `DenseReparameterization`, `Conv2DFlipout`,
`Conv2DReparameterization`, `LSTMFlipout`, `KLWarmUp`) live in `zoo.layers.variational`, and the
sparse variational GP's pieces (`SparseVariationalGP`, `GaussianLikelihood`, their losses and
`initialize_inducing_points`) in `zoo.layers.sparse_gp`: they need TensorFlow Probability, so
they are imported on first use (`zoo.layers.DenseFlipout`), not with this module.
`zoo.load_model` imports them before loading a model's file.
"""

from zoo.layers.attention import AttentionPooling1D
from zoo.layers.ensemble import EnsembleAccuracy, EnsembleLoss, EnsembleMeanAbsoluteError, StackMembers
from zoo.layers.mc_dropout import MCDropout, MCLSTM
from zoo.layers.lenet5 import ConnectionTableConv2D, Subsampling2D, lecun_tanh, LENET5_C3_TABLE
from zoo.layers.relative import AddLast, DifferenceFromLast
from zoo.layers.threshold import HeavisideStep, PerceptronLoss

from zoo._lazy import lazy_attributes

_VARIATIONAL = ("Conv2DFlipout", "Conv2DReparameterization", "DenseFlipout",
                "DenseReparameterization", "KLWarmUp", "LSTMFlipout")
_SPARSE_GP = ("GaussianLikelihood", "MeanRootMeanSquaredError", "MeanStdNLL", "PredictiveAccuracy",
              "SparseVariationalGP", "VariationalClassificationNLL", "initialize_inducing_points")
__getattr__ = lazy_attributes(__name__, {**{name: "variational" for name in _VARIATIONAL},
                                         **{name: "sparse_gp" for name in _SPARSE_GP}})


__all__ = [*_VARIATIONAL, *_SPARSE_GP,
    "AddLast",
    "AttentionPooling1D",
    "ConnectionTableConv2D",
    "DifferenceFromLast",
    "EnsembleAccuracy",
    "EnsembleLoss",
    "EnsembleMeanAbsoluteError",
    "HeavisideStep",
    "LENET5_C3_TABLE",
    "MCDropout",
    "MCLSTM",
    "PerceptronLoss",
    "StackMembers",
    "Subsampling2D",
    "lecun_tanh",
]
