"""Deferred imports, so the catalog's metadata is readable without TensorFlow.

`zoo list` and `zoo describe` must answer in well under a second, and importing Keras
pulls in TensorFlow (seconds). Model modules therefore bind `keras` through
`lazy_import`: a stand-in module object exists at once, and the real import runs on first
attribute access, which happens only when a model is actually built.

The stand-in is not placed in `sys.modules`. An earlier version registered a
`importlib.util.LazyLoader` module there; then `import tensorflow`, which looks up
`keras._tf_keras.keras` while TensorFlow itself is half-imported, executed that lazy `keras`
too early, the failure was swallowed, and a half-initialised `keras` without `keras.utils`
stayed behind (`zoo.describe("lenet")` then `import tensorflow` broke every later build).
With the stand-in, every real import takes Python's normal path in the normal order.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


class _Deferred(types.ModuleType):
    """Forwards attribute access to the module `__name__`, importing it on first use."""

    def __getattr__(self, attribute: str):
        module = sys.modules.get(self.__name__)
        if module is None or module is self:
            module = importlib.import_module(self.__name__)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<deferred module {self.__name__!r}>"


def lazy_import(name: str) -> types.ModuleType:
    """Return module `name`, or a stand-in that imports it when one of its attributes is first used.

    Example:
        >>> keras = lazy_import("keras")   # cheap
        >>> keras.layers.Dense(3)          # Keras (and its backend) load here  # doctest: +SKIP
    """
    if name in sys.modules:
        return sys.modules[name]
    if importlib.util.find_spec(name) is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    return _Deferred(name)
