"""Deferred imports, so the catalog's metadata is readable without TensorFlow: the one style.

`zoo list` and `zoo describe` must answer in well under a second, and importing Keras
pulls in TensorFlow (seconds). So:

- a module that must stay cheap to import binds what it defers at its top with
  `keras = lazy_import("keras")`: a stand-in module object exists at once, and the real
  import runs on first attribute access (model modules: when a model is actually built);
- a package that offers names from such modules (`zoo.training.run`, `zoo.layers.DenseFlipout`)
  sets `__getattr__ = lazy_attributes(__name__, {...})`.

A function-local import is for what that one function alone needs (matplotlib for a plot,
TF Serving's protos for warm-up records, the modules `zoo.saving` registers with Keras), not a
way to defer a module the rest of the file uses.

The stand-in is not placed in `sys.modules`. An earlier version registered a
`importlib.util.LazyLoader` module there; then `import tensorflow`, which looks up
`keras._tf_keras.keras` while TensorFlow itself is half-imported, executed that lazy `keras`
too early, the failure was swallowed, and a half-initialised `keras` without `keras.utils`
stayed behind (`zoo.describe("lenet")` then `import tensorflow` broke every later build).
With the stand-in, every real import takes Python's normal path in the normal order.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types


class _Deferred(types.ModuleType):
    # Forwards attribute access to the module `__name__`, importing it on first use.

    def _module(self) -> types.ModuleType:
        module = sys.modules.get(self.__name__)
        if module is None or module is self:
            module = importlib.import_module(self.__name__)
        return module

    def __getattr__(self, attribute: str):
        return getattr(self._module(), attribute)

    # A module object has its own `__doc__` (None), so `__getattr__` never sees it: the CLI
    # builds subcommands' help from their modules' docstrings.
    __doc__ = property(lambda self: self._module().__doc__)

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
    if _find_spec(name) is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    return _Deferred(name)


def _find_spec(name: str):
    """`importlib.util.find_spec` without importing parent packages that are not imported yet
    (it would run `zoo/layers/__init__`, which imports Keras, to find `zoo.layers.variational`)."""
    parent = name.rpartition(".")[0]
    if not parent or parent in sys.modules:
        return importlib.util.find_spec(name)
    parent_spec = _find_spec(parent)
    if parent_spec is None or parent_spec.submodule_search_locations is None:
        return None
    return importlib.machinery.PathFinder.find_spec(name, parent_spec.submodule_search_locations)


def lazy_attributes(package: str, sources: dict[str, str]):
    """A module `__getattr__` (PEP 562) for `package`: `sources` maps each name it offers to
    the module that defines it (relative to `package`), imported on first use. A source module
    itself is offered by mapping its name to "" (`from zoo.training import tasks`).

    Example:
        >>> __getattr__ = lazy_attributes("zoo.training", {"run": "recipe", "tasks": ""})  # doctest: +SKIP
    """

    def __getattr__(name: str):
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if not sources[name]:
            return lazy_import(f"{package}.{name}")
        return getattr(importlib.import_module(f"{package}.{sources[name]}"), name)

    return __getattr__
