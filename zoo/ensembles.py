"""Deep ensembles (Lakshminarayanan, Pritzel & Blundell 2017): N independently initialised copies
of a model in one `keras.Model`, trained by one `fit` in which each member minimises its own loss.

`zoo.build(name, ensemble_size=N)` makes one for any catalog entry that trains by gradient
descent on its loss (user-registered ones too). The ensemble is a functional model: its input
goes to every member and `zoo.layers.StackMembers` stacks their outputs to (batch, N, units). Its loss,
`zoo.layers.EnsembleLoss`, is the sum of the members' own losses, so a member's gradient is exactly the
gradient of its own loss (no member sees another's error); one step is one compiled call over
one batch for all members, and TensorFlow runs the members' independent ops side by side.

The ensemble's head is `ensemble:<member head>` (`zoo.heads.Ensemble`): exports serve the
members' mixture (`probabilities`, `classes`, `entropy`, `mutual_information`, or `mean`, `std`
and its parts) and, in the `members` signature, each member's own outputs.

Example:
    >>> model = zoo.build("lenet", ensemble_size=5)  # doctest: +SKIP
    >>> model.output_shape, zoo.heads.head_of(model)  # doctest: +SKIP
    ((None, 5, 10), 'ensemble:logits')
"""

from __future__ import annotations

from typing import Any

from zoo import heads
from zoo._lazy import lazy_import

keras = lazy_import("keras")
ensemble_layers = lazy_import("zoo.layers.ensemble")

KEY = "ensemble_size"  # the config key every ensemble-capable catalog entry accepts


def check_size(size: Any) -> int:
    """`size` as the number of members; a clear error for anything but an integer >= 1.

    Example:
        >>> check_size(5)
        5
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"`{KEY}` must be an integer >= 1 (1: a single model, N > 1: an ensemble of N). "
                         f"Received: {KEY}={size!r}")
    return size


def ensemble(members, name: str):
    """One functional model whose output stacks `members`' outputs on axis 1: (batch, N, units).

    The members must be functional models with one input, all of the same input spec; each keeps
    its own weights (built separately, so initialised independently).

    Example:
        >>> model = ensemble([zoo.build("mlp", compile=False) for _ in range(3)], "mlp")  # doctest: +SKIP
        >>> model.output_shape  # doctest: +SKIP
        (None, 3, 10)
    """
    first = members[0]
    inputs = getattr(first, "inputs", None)
    if not inputs or len(inputs) != 1:
        raise ValueError(f"{first.name!r} cannot be a member of an ensemble: members must be functional Keras "
                         f"models with one input (a subclassed model builds its own training loop).")
    spec = inputs[0]
    for i, member in enumerate(members):
        member.name = f"{name}_member_{i}"
    features = keras.Input(shape=spec.shape[1:], dtype=spec.dtype, name=spec.name)
    outputs = ensemble_layers.StackMembers(name="members")([member(features) for member in members])
    return keras.Model(features, outputs, name=name)


def compile_like(model, member) -> None:
    """Compiles ensemble `model` as its compiled `member` is: the member's loss per member
    (summed, `EnsembleLoss`), a fresh optimizer of the member's kind and settings, and the
    ensemble's accuracy (classifiers) or mean absolute error of its mean (regressors)."""
    head = heads.get(heads.head_of(model))
    optimizer = type(member.optimizer).from_config(member.optimizer.get_config())
    metric = (ensemble_layers.EnsembleAccuracy if head.is_classifier
              else ensemble_layers.EnsembleMeanAbsoluteError)(head.member.name)
    model.compile(optimizer=optimizer, loss=ensemble_layers.EnsembleLoss(member.loss), metrics=[metric])
