"""Deferred imports, so the catalog's metadata is readable without TensorFlow.

`zoo list` and `zoo describe` must answer in well under a second, and importing Keras
pulls in TensorFlow (seconds). Model modules therefore bind `keras` through
`lazy_import`: the module object exists at once, and its code runs on first attribute
access, which happens only when a model is actually built.
"""

from __future__ import annotations

import importlib.util
import sys
import types


def lazy_import(name: str) -> types.ModuleType:
    """Return module `name`, executing it only when one of its attributes is first used.

    Example:
        >>> keras = lazy_import("keras")   # cheap
        >>> keras.layers.Dense(3)          # Keras (and its backend) load here  # doctest: +SKIP
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:  # as the import system does, so `import zoo.layers; zoo.layers.X` works too
        setattr(sys.modules[parent], child, module)
    return module
