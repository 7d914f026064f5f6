"""What a compiled model takes and outputs (its "head", read from its loss): one place for
export, uncertainty, recipes and tests to agree on.

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


def model_input_spec(model):
    """The batch input a model takes: a functional model's input, or the shape a subclassed
    model (e.g. `gp_regressor`) was built with, as a `tf.TensorSpec`."""
    import tensorflow as tf

    inputs = getattr(model, "inputs", None)
    if inputs:
        return tf.TensorSpec((None, *inputs[0].shape[1:]), inputs[0].dtype)
    shape = (model.get_build_config() or {}).get("input_shape")
    if shape is None:
        raise ValueError(f"Cannot tell what input {model.name!r} takes: build or call it first, or pass input_spec.")
    return tf.TensorSpec((None, *shape[1:]), model.compute_dtype)
