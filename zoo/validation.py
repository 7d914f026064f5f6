"""Checks for model config values, so bad input fails early with a message a user can act on.

A check is chosen by the config key's name (`num_classes` means the same in every family),
falling back to the type of the key's default value. Each raises `ValueError` naming the
parameter and the value received, in the style
"`num_classes` must be a positive integer. Received: num_classes=0".
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Check = Callable[[str, Any], Any]


def _fail(key: str, expected: str, value: Any) -> None:
    raise ValueError(f"`{key}` must be {expected}. Received: {key}={value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(key: str, value: Any) -> int:
    if not _is_int(value) or value < 1:
        _fail(key, "a positive integer", value)
    return int(value)


def non_negative_float(key: str, value: Any) -> float:
    if not _is_real(value) or value < 0 or value != value:
        _fail(key, "a number >= 0", value)
    return float(value)


def positive_float(key: str, value: Any) -> float:
    if not _is_real(value) or not value > 0:
        _fail(key, "a number > 0", value)
    return float(value)


def rate(key: str, value: Any) -> float:
    """A dropout-style rate: a fraction in [0, 1)."""
    if not _is_real(value) or not 0 <= value < 1:
        _fail(key, "a number in [0, 1)", value)
    return float(value)


def real(key: str, value: Any) -> float:
    if not _is_real(value) or value != value:
        _fail(key, "a number", value)
    return float(value)


def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        _fail(key, "True or False", value)
    return value


def text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        _fail(key, "a non-empty string", value)
    return value


def optional_text(key: str, value: Any) -> str | None:
    return None if value is None else text(key, value)


def positive_ints(key: str, value: Any) -> tuple[int, ...]:
    """A sequence of positive integers, e.g. layer widths; may be empty."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        _fail(key, "a list of positive integers", value)
    if not all(_is_int(v) and v >= 1 for v in value):
        _fail(key, "a list of positive integers", value)
    return tuple(int(v) for v in value)


def layer_widths(key: str, value: Any) -> tuple[int, ...]:
    """A non-empty sequence of positive integers: the widths of at least one layer."""
    widths = positive_ints(key, value)
    if not widths:
        _fail(key, "a non-empty list of positive integers", value)
    return widths


def reals(key: str, value: Any) -> tuple[float, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        _fail(key, "a non-empty list of numbers", value)
    if not all(_is_real(v) and v == v for v in value):
        _fail(key, "a non-empty list of numbers", value)
    return tuple(float(v) for v in value)


def shape(key: str, value: Any) -> tuple[int | None, ...]:
    """A per-example shape: positive integers, or None for a variable length."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        _fail(key, "a non-empty tuple of positive integers (None for a variable length)", value)
    if not all(v is None or (_is_int(v) and v >= 1) for v in value):
        _fail(key, "a non-empty tuple of positive integers (None for a variable length)", value)
    return tuple(None if v is None else int(v) for v in value)


def one_of(*choices: str) -> Check:
    """A check accepting exactly one of `choices`.

    Example:
        >>> one_of("classification", "regression")("task", "regression")
        'regression'
    """

    def check(key: str, value: Any) -> str:
        if value not in choices:
            _fail(key, "one of " + ", ".join(repr(c) for c in choices), value)
        return value

    return check


# One meaning per key across the catalog. Keys not listed here are checked by the
# type of their default value (see `check_value`).
CHECKS: dict[str, Check] = {
    "input_shape": shape,
    "num_classes": positive_int,
    "num_outputs": positive_int,
    "vocab_size": positive_int,
    "embedding_dim": positive_int,
    "kernel_size": positive_int,
    "hidden_units": positive_ints,
    "dense_units": positive_ints,
    "filters": layer_widths,
    "lstm_units": layer_widths,
    "dropout": rate,
    "recurrent_dropout": rate,
    "l1": non_negative_float,
    "l2": non_negative_float,
    "learning_rate": positive_float,
    "activation": text,
    "output_activation": optional_text,
    "batch_norm": boolean,
    "bidirectional": boolean,
    "attention_pooling": boolean,
    "weights": reals,
    "threshold": real,
    "num_train_examples": positive_int,
    "mc_dropout": boolean,
    "prior_std": positive_float,
    "posterior_std_init": positive_float,
}


def check_value(key: str, value: Any, default: Any) -> Any:
    """Validate and normalise one config value; returns the normalised value.

    Example:
        >>> check_value("hidden_units", [64, 32], default=(128,))
        (64, 32)
    """
    if key in CHECKS:
        return CHECKS[key](key, value)
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        return boolean(key, value)
    if _is_int(default):
        if not _is_int(value):
            _fail(key, "an integer", value)
        return int(value)
    if _is_real(default):
        return real(key, value)
    if isinstance(default, str):
        return text(key, value)
    if isinstance(default, (tuple, list)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            _fail(key, "a list", value)
        return tuple(value)
    return value


def check_rank(key: str, value: Sequence, rank: int, what: str) -> None:
    """Reject an `input_shape` whose rank does not fit the model family."""
    if len(value) != rank:
        raise ValueError(
            f"`{key}` must have {rank} dimension{'s' * (rank != 1)} for {what}. "
            f"Received: {key}={tuple(value)!r} ({len(value)} dimensions)"
        )


def check_config(config: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Validate every value of a full config against the checks and defaults above."""
    return {key: check_value(key, value, defaults.get(key)) for key, value in config.items()}


# -- checks families share -----------------------------------------------------------------
def check_mc_dropout(mc_dropout: bool, dropout: float) -> None:
    """MC dropout needs dropout to sample from (`mlp`, `lenet`)."""
    if mc_dropout and not dropout:
        raise ValueError("`mc_dropout=True` needs dropout to sample from. "
                         f"Received: mc_dropout=True, dropout={dropout!r}; set dropout > 0.")


def check_lenet_geometry(config: Mapping[str, Any]) -> None:
    """LeNet's layout fits the images: two convolutions, and at least one pixel left after them
    (`lenet`, `bayesian_lenet`)."""
    # 'same' conv, 2x2 pool, 'valid' conv, 2x2 pool must leave at least one pixel.
    smallest = 2 * (config["kernel_size"] + 1)
    height, width, _ = config["input_shape"]
    if height < smallest or width < smallest:
        raise ValueError(
            f"'lenet' with kernel_size={config['kernel_size']} needs images of at least "
            f"{smallest}x{smallest}. Received: input_shape={config['input_shape']!r}. "
            "Upsample the images or use a smaller kernel_size.")
    if len(config["filters"]) != 2:
        raise ValueError("`filters` must give the widths of LeNet's two convolutions. "
                         f"Received: filters={config['filters']!r}")
