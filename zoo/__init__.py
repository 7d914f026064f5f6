"""Keras Zoo: reference Keras 3 models behind one call.

Example:
    >>> import zoo
    >>> zoo.list_models("lenet*")
    ['lenet', 'lenet5']
    >>> model = zoo.build("lenet", num_classes=100)   # compiled, ready for fit()  # doctest: +SKIP

Importing `zoo` does not import TensorFlow or Keras; building a model does.
"""

from zoo.registry import (
    InputSpec,
    ModelCard,
    ModelSpec,
    Reference,
    ReferenceResult,
    UnknownModelError,
    build,
    describe,
    list_models,
    register_model,
)

__version__ = "0.1.0"

__all__ = [
    "InputSpec",
    "ModelCard",
    "ModelSpec",
    "Reference",
    "ReferenceResult",
    "UnknownModelError",
    "build",
    "describe",
    "list_models",
    "register_model",
]
