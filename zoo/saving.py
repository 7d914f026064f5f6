"""Trained models back from disk: run directories, `.keras` files and exported SavedModels.

`load_model(path)` takes whatever a run left behind and says what it loaded:

    runs/lenet-digits/                 the run's final Keras model (`model.keras`), compiled
    model.keras, any zoo model's file  the Keras model; every zoo layer, loss and model class is
                                       registered first (no `import zoo.layers` needed)
    saved_models/lenet/1/              the export, as a callable returning the signature's named
    saved_models/lenet/                outputs as NumPy arrays (the newest version)

`zoo.build(name, weights=PATH)` builds the catalog model and loads weights from a run directory,
a `.keras` or a `.weights.h5` file, after checking the model's config matches the one the run
recorded (`zoo_model.json`) and naming every difference.

Example:
    >>> model = zoo.load_model("runs/lenet-digits")  # doctest: +SKIP
    Loaded runs/lenet-digits/model.keras: lenet (Keras model, trained 60 epochs on digits; test accuracy 0.9917)
    >>> served = zoo.load_model("saved_models/lenet")  # doctest: +SKIP
    >>> served(images)["classes"]  # doctest: +SKIP
    array([7, 2, 1])
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo import heads
from zoo.layout import DEFAULT_SIGNATURE, list_versions, read_card, version_of

RUN_MODEL = "model.keras"  # the latest epoch's whole model, in every run directory
MODEL_RECORD = "zoo_model.json"  # beside it: the catalog name and resolved config it was built with


def load_model(path: str | os.PathLike, *, compile: bool = True, verbose: bool = True):
    """The trained model at `path`: a run directory or `.keras` file gives a `keras.Model`; an
    export's version (or model) directory an `ExportedModel`. Prints one line saying which,
    unless `verbose=False`.

    Raises `FileNotFoundError` or `ValueError` naming the path and what it expected there.

    Example:
        >>> model = load_model("runs/lenet-digits", verbose=False)  # doctest: +SKIP
        >>> model.predict(images).argmax(-1)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such file or directory: {str(path)!r}. Expected a run directory "
                                "(runs/<model>-<dataset>), a .keras file or an export (saved_models/<name>[/<version>]).")
    if path.is_dir() and (path / "saved_model.pb").exists():
        return _say(ExportedModel(path), verbose)
    if path.is_dir() and list_versions(path):
        return _say(ExportedModel(list_versions(path)[max(list_versions(path))]), verbose)
    if path.is_dir() and (path / RUN_MODEL).exists():
        path = path / RUN_MODEL
    elif path.is_dir():
        raise ValueError(f"{str(path)!r} is neither a run directory (no {RUN_MODEL}) nor an export (no "
                         "saved_model.pb, no numbered version directories).")
    if path.suffix != ".keras":
        raise ValueError(f"{str(path)!r}: load_model reads .keras files, run directories and exports. "
                         "For a .weights.h5 file, build the model and load them: "
                         "zoo.build(name, weights=path).")
    from zoo import console

    console.import_tensorflow()
    import keras

    register_custom_objects()
    model = keras.saving.load_model(path, compile=compile)
    _declare_recorded_head(model, path.parent)
    if verbose:
        print(f"Loaded {path}: {model.name} (Keras model{_provenance(path.parent)})", flush=True)
    return model


def register_custom_objects() -> None:
    """Imports every module that registers zoo objects with Keras' serialization, including the
    ones loaded lazily elsewhere (TFP-based layers and models)."""
    import zoo.layers  # noqa: F401
    import zoo.models.gaussian_process  # noqa: F401
    import zoo.layers.variational  # noqa: F401
    import zoo.layers.sparse_gp  # noqa: F401


class ExportedModel:
    """An exported SavedModel version as a Python callable: `model(inputs)` runs its
    `serving_default` signature (or `signature=`) and returns {output name: NumPy array}.

    Example:
        >>> served = ExportedModel("saved_models/lenet/1")  # doctest: +SKIP
        >>> served(images)["probabilities"].shape  # doctest: +SKIP
        (3, 10)
    """

    def __init__(self, version_dir: str | os.PathLike):
        from zoo import console

        tf = console.import_tensorflow()
        self.path = Path(version_dir)
        self.name = self.path.parent.name
        self.version = version_of(self.path.name)
        self.card = read_card(self.path)
        self._loaded = tf.saved_model.load(str(self.path))
        self.signatures = dict(self._loaded.signatures)

    def __call__(self, inputs, *, signature: str = DEFAULT_SIGNATURE) -> dict[str, Any]:
        import numpy as np
        import tensorflow as tf

        if signature not in self.signatures:
            raise ValueError(f"No signature {signature!r} in {self.path}. It has: {', '.join(sorted(self.signatures))}.")
        function = self.signatures[signature]
        specs = function.structured_input_signature[1]
        if not isinstance(inputs, Mapping):
            if len(specs) != 1:
                raise ValueError(f"Signature {signature!r} takes several inputs ({', '.join(sorted(specs))}): "
                                 "pass a dict of them.")
            inputs = {next(iter(specs)): inputs}
        unknown = sorted(set(inputs) - set(specs))
        if unknown:
            raise ValueError(f"Signature {signature!r} has no input {unknown[0]!r}. Inputs: {', '.join(sorted(specs))}.")
        tensors = {name: tf.convert_to_tensor(np.asarray(value) if specs[name].dtype != tf.string else value,
                                              dtype=specs[name].dtype) for name, value in inputs.items()}
        return {name: value.numpy() for name, value in function(**tensors).items()}

    @property
    def outputs(self) -> list[str]:
        return sorted(self.signatures[DEFAULT_SIGNATURE].structured_outputs)

    def __repr__(self) -> str:
        return f"ExportedModel({str(self.path)!r}, outputs={self.outputs})"


def _say(exported: ExportedModel, verbose: bool) -> ExportedModel:
    if verbose:
        metrics = exported.card.get("metrics", {}).get("test", {})
        shown = "".join(f"; test {key} {value:.4f}" for key, value in list(metrics.items())[:1])
        print(f"Loaded {exported.path}: {exported.name} version {exported.version} (exported SavedModel, "
              f"outputs {', '.join(exported.outputs)}{shown})", flush=True)
    return exported


def _provenance(run_dir: Path) -> str:
    """', trained 60 epochs on digits; test accuracy 0.9917' from a run directory's files."""
    try:
        config = json.loads((run_dir / "config.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return ""
    test = metrics.get("test", {})
    shown = "".join(f"; test {key} {value:.4f}" for key, value in list(test.items())[:1])
    return f", trained {metrics.get('epochs', '?')} epochs on {config.get('dataset', '?')}{shown}"


def write_model_record(directory: str | os.PathLike, name: str, config: Mapping[str, Any],
                       head: str | None = None) -> Path:
    """Stores the catalog name and resolved config a run built its model with, for
    `zoo.build(name, weights=run_dir)` to check against, and its head (`zoo.heads`), which
    `load_model` gives the loaded model back."""
    path = Path(directory) / MODEL_RECORD
    path.write_text(json.dumps({"name": name, "config": _jsonable(config), "head": head}, indent=2) + "\n")
    return path


def _declare_recorded_head(model, directory: Path) -> None:
    """A model loaded from a run keeps the head it was built with, compiled or not."""
    try:
        head = json.loads((directory / MODEL_RECORD).read_text()).get("head")
    except (OSError, ValueError, AttributeError):
        return  # a .keras file outside a run, or a run from before heads were recorded
    try:
        heads.declare(model, head)
    except ValueError:  # a head registered by code that is not loaded now: infer it instead
        pass


def _jsonable(value):
    return json.loads(json.dumps(value, default=list))


def load_weights_into(model, name: str, config: Mapping[str, Any], weights: str | os.PathLike) -> None:
    """What `zoo.build(name, weights=...)` does after building: check, then load."""
    path = Path(weights)
    if path.is_dir():
        if not (path / RUN_MODEL).exists():
            raise FileNotFoundError(f"weights={str(path)!r} is a directory without {RUN_MODEL}: expected a run "
                                    "directory, a .keras or a .weights.h5 file.")
        record_dir, path = path, path / RUN_MODEL
    elif path.is_file():
        record_dir = path.parent
    else:
        raise FileNotFoundError(f"weights={str(path)!r} does not exist. Expected a run directory, a .keras or a "
                                ".weights.h5 file.")
    if not (path.name.endswith(".keras") or path.name.endswith(".weights.h5")):
        raise ValueError(f"weights={str(path)!r}: expected a run directory, a .keras or a .weights.h5 file.")
    record_path = record_dir / MODEL_RECORD
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if record.get("name") != name:
            raise ValueError(f"The weights in {path} belong to the catalog model {record.get('name')!r}, not {name!r}: "
                             f"zoo.build({record.get('name')!r}, weights={str(weights)!r}).")
        current = _jsonable(config)
        differs = [key for key in sorted(set(record["config"]) | set(current))
                   if record["config"].get(key) != current.get(key)]
        if differs:
            shown = "; ".join(f"{key}: {record['config'].get(key)!r} in the run, {current.get(key)!r} here"
                              for key in differs)
            call = ", ".join(f"{key}={record['config'].get(key)!r}" for key in differs)
            raise ValueError(f"The weights in {path} were trained with another config than this zoo.build makes: "
                             f"{shown}. Build it as the run did: zoo.build({name!r}, weights={str(weights)!r}, "
                             f"{call}) (the run's config is in {record_path}).")
    register_custom_objects()
    if path.name.endswith(".weights.h5"):
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model.load_weights(str(path))
            except ValueError as error:
                raise ValueError(f"The weights in {path} do not fit zoo.build({name!r}, ...): {error}") from None
        skipped = [str(w.message) for w in caught if "freshly-initialized" in str(w.message)]
        if skipped:  # Keras only warns, and the model keeps random weights where it skipped
            raise ValueError(f"The weights in {path} do not fit zoo.build({name!r}, ...): {skipped[0]}")
        for warning in caught:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        return
    # A whole-model file: its layers' weights only. Keras' `load_weights` would also restore the
    # optimizer's slots, which a freshly built model does not have yet.
    import keras

    saved = keras.saving.load_model(path, compile=False)
    if len(saved.weights) != len(model.weights):
        raise ValueError(f"The weights in {path} do not fit zoo.build({name!r}, ...): the file holds "
                         f"{len(saved.weights)} weight tensors, this model {len(model.weights)}.")
    for theirs, mine in zip(saved.weights, model.weights):
        if tuple(theirs.shape) != tuple(mine.shape):
            raise ValueError(f"The weights in {path} do not fit zoo.build({name!r}, ...): {theirs.path} has shape "
                             f"{tuple(theirs.shape)} in the file, {mine.path} {tuple(mine.shape)} here.")
    model.set_weights(saved.get_weights())
