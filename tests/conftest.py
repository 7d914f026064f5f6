"""Shared helpers: example batches and labels made from a model's catalog spec."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of test logs

import numpy as np
import pytest

from zoo.registry import get_spec, resolve_template

VARIABLE_LENGTH = 6  # stands in for `None` dimensions (sequence lengths)


def example_batch(name: str, config: dict, batch: int = 4, seed: int = 0) -> np.ndarray:
    """A batch of valid inputs for catalog entry `name` built with `config`."""
    spec = get_spec(name)
    rng = np.random.default_rng(seed)
    shape = tuple(VARIABLE_LENGTH if d is None else d for d in resolve_template(spec.input.shape, config))
    low, high = resolve_template(spec.input.value_range, config)
    if low is None or high is None:
        values = rng.normal(size=(batch, *shape))
    elif spec.input.integer:
        # A bound naming a count is exclusive (token ids < vocab_size), a number inclusive.
        top = high if isinstance(spec.input.value_range[1], str) else high + 1
        if spec.input.dtype.startswith("int"):
            low = max(low, 1)  # integer inputs here are token ids, and 0 is padding
        values = rng.integers(low, top, size=(batch, *shape))
    else:
        values = rng.uniform(low, high, size=(batch, *shape))
    return values.astype(spec.input.dtype)


def example_labels(name: str, model, batch: int = 4, seed: int = 0) -> np.ndarray:
    """Targets matching the compiled loss: classes cycle so every class appears."""
    from zoo.heads import num_targets

    spec = get_spec(name)
    units = model.output_shape[-1]
    if spec.task == "regression":
        return np.random.default_rng(seed).normal(size=(batch, num_targets(model))).astype("float32")
    if units == 1:
        return (np.arange(batch) % 2).astype("float32").reshape(batch, 1)
    return (np.arange(batch) % units).astype("int32")


@pytest.fixture(autouse=True)
def _seeded():
    import keras

    keras.utils.set_random_seed(1234)
    yield


import user_models  # noqa: E402,F401  (registers a user-style model before collection)
