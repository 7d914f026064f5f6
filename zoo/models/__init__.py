"""The built-in catalog: importing this package registers every family's entries.

Importing it is cheap: the family modules bind Keras lazily, so TensorFlow loads only when a
model is built.
"""

from zoo.models import bayesian, gp, lenet, lstm, mlp, perceptron  # noqa: F401  (registration side effects)
