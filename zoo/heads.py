"""What a compiled model outputs (its "head"), read from its loss: one place for export,
uncertainty and tests to agree on.

    logits          class scores; softmax gives probabilities (sparse categorical CE from logits)
    binary_logits   one score per example; sigmoid gives P(class 1)
    probabilities   class probabilities (or P(class 1) for one unit)
    classes         hard 0/1 decisions (threshold units)
    normal          [means, raw scales] of a Normal per target: std = softplus(raw) + min_std
                    (`GaussianNLL`, heteroscedastic regression)
    mean_std        [mean, std] of a Normal (Gaussian-process regression)
    values          plain regression outputs
"""

from __future__ import annotations

HEADS = ("logits", "binary_logits", "probabilities", "classes", "normal", "mean_std", "values")


def head_of(model) -> str:
    """One of `HEADS`, read from the model's compiled loss (or the model itself, for a GP).

    Example:
        >>> head_of(zoo.build("lenet"))  # doctest: +SKIP
        'logits'
    """
    import keras

    if type(model).__name__ == "GaussianProcessRegressor":
        return "mean_std"
    loss = getattr(model, "loss", None)
    if isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        return "logits" if loss.from_logits else "probabilities"
    if isinstance(loss, keras.losses.BinaryCrossentropy):
        return "binary_logits" if loss.from_logits else "probabilities"
    name = type(loss).__name__
    if name == "PerceptronLoss":
        return "classes"
    if name == "GaussianNLL":
        return "normal"
    return "values"


def num_targets(model, head: str | None = None) -> int:
    """How many values a regression target has per example (half the outputs for Normal heads).

    Example:
        >>> num_targets(zoo.build("gp_regressor"))  # doctest: +SKIP
        1
    """
    head = head or head_of(model)
    units = model.output_shape[-1]
    return units // 2 if head in ("normal", "mean_std") else units
