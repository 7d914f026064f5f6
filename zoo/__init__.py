"""Keras Zoo: reference Keras 3 models behind one call.

Example:
    >>> import zoo
    >>> zoo.list_models("lenet*")
    ['lenet', 'lenet5']
    >>> model = zoo.build("lenet", num_classes=100)   # compiled, ready for fit()  # doctest: +SKIP
    >>> model = zoo.load_model("runs/lenet-digits")     # a trained run back  # doctest: +SKIP

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
from zoo import models  # noqa: E402,F401  (the built-in catalog registers itself on import)
from zoo.saving import ExportedModel, load_model

__version__ = "0.1.0"

__all__ = [
    "ExportedModel",
    "InputSpec",
    "ModelCard",
    "ModelSpec",
    "Reference",
    "ReferenceResult",
    "UnknownModelError",
    "build",
    "describe",
    "list_models",
    "load_model",
    "register_model",
]
