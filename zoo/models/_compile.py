"""Each family's natural loss, optimizer and metrics, so `zoo.build(...)` is ready for `fit`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo import heads
from zoo._lazy import lazy_import

keras = lazy_import("keras")
zoo_layers = lazy_import("zoo.layers")
variational = lazy_import("zoo.layers.variational")  # TensorFlow Probability: only when a Normal head compiles


def compile_classifier(model, config: Mapping[str, Any], *, learning_rate: float = 1e-3,
                       output_activation: str | None = None, data_term: bool = False) -> None:
    """Adam and cross-entropy, matched to the head: logits unless an activation is given.

    One output unit means a binary classifier (binary cross-entropy); several mean one
    unit per class with integer labels (sparse categorical cross-entropy). `data_term=True`
    (Bayesian models, whose loss adds a KL term) also reports the cross-entropy alone as
    `data_nll`, so the two terms can be told apart.
    """
    from_logits = output_activation is None
    if model.output_shape[-1] == 1:
        loss = keras.losses.BinaryCrossentropy(from_logits=from_logits)
        metrics = [keras.metrics.BinaryAccuracy(threshold=0.0 if from_logits else 0.5)]
        data_nll = keras.metrics.BinaryCrossentropy(from_logits=from_logits, name="data_nll")
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        data_nll = keras.metrics.SparseCategoricalCrossentropy(from_logits=from_logits, name="data_nll")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
                  metrics=metrics + ([data_nll] if data_term else []))


def compile_bayesian_classifier(model, config: Mapping[str, Any]) -> None:
    """As `compile_classifier`, reporting the data term (`data_nll`) beside the ELBO loss."""
    compile_classifier(model, config, data_term=True)


def compile_regressor(model, config: Mapping[str, Any], *, learning_rate: float = 1e-3) -> None:
    """Adam on mean squared error, reporting mean absolute error."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse",
                  metrics=[keras.metrics.MeanAbsoluteError(name="mae")])


def compile_threshold_unit(model, config: Mapping[str, Any]) -> None:
    """Plain SGD on `PerceptronLoss`: with batch size 1 each step is the perceptron rule."""
    model.compile(optimizer=keras.optimizers.SGD(config.get("learning_rate", 1.0)),
                  loss=zoo_layers.PerceptronLoss(),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.5, name="accuracy")])


def compile_normal_regressor(model, config: Mapping[str, Any], *, learning_rate: float = 1e-3) -> None:
    """Adam on the Normal head's negative log-likelihood (`GaussianNLL`, TensorFlow Probability)."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=variational.GaussianNLL())


def compile_by_head(model, config: Mapping[str, Any]) -> None:
    """Cross-entropy for a classifier head (logits, or probabilities after the config's
    `output_activation`), the Normal's negative log-likelihood for a sampled Normal head, mean
    squared error for plain values: the head `zoo.build` declared."""
    head = heads.get(heads.head_of(model))
    if head.is_classifier:
        compile_classifier(model, config, output_activation=config.get("output_activation"))
    elif head.paired and not head.exact:
        compile_normal_regressor(model, config)
    else:
        compile_regressor(model, config)
