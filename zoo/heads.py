"""What a model outputs, declared once: one `Head` object per kind, looked up by name.

A head says what a model's raw outputs mean and everything that follows from it: the named
outputs an export serves, how many samples of them summarise into a predictive distribution
(Monte Carlo or ensemble members), and which outputs are in target units. `zoo.export`,
`zoo.uncertainty` and the recipe runner ask the head; none of them branches on its name, so a
new kind of output is a new `Head` here and nothing else.

    logits          class scores; softmax gives probabilities (sparse categorical CE from logits)
    binary_logits   one score per example; sigmoid gives P(class 1)
    probabilities   class probabilities (or P(class 1) for one unit)
    classes         hard 0/1 decisions (threshold units)
    normal          [means, raw scales] of a Normal per target: std = softplus(raw) + min_std
                    (`GaussianNLL`, heteroscedastic regression)
    mean_std        [mean, std] of a Normal (Gaussian-process regression: exact, no sampling)
    values          plain regression outputs

Catalog entries declare theirs (`register_model(head=...)`) and `zoo.build` records it on the
model; `head_of(model)` reads that record, and infers the head from the compiled loss only for
models built outside the catalog.

Example:
    >>> get("logits").outputs
    ('logits', 'probabilities', 'classes')
    >>> get("normal").sample_outputs
    ('mean', 'std', 'aleatoric_std', 'epistemic_std')
    >>> classifier_head(num_classes=1)
    'binary_logits'
"""

from __future__ import annotations

import dataclasses
from typing import Any

from zoo._lazy import lazy_import

tf = lazy_import("tensorflow")

MIN_STD = 1e-3  # the Normal head's floor on the std: GaussianNLL trains with it, exports serve with it
EPS = 1e-12  # inside log(p) for entropies


@dataclasses.dataclass(frozen=True)
class Head:
    """One kind of model output.

    Attributes:
        name: the name cards, exports and `register_model(head=...)` use.
        description: one line for model cards.
        outputs: what `serving_default` returns, in card order.
        sample_outputs: what an export with `mc_samples` returns from the samples' summary
            (empty: samples of this head are not averaged).
        task: "classification" or "regression".
        exact: the outputs already are the predictive distribution (a GP's): uncertainty
            needs one pass, not samples.
        locations / scales: the regression outputs that `target_scale=(loc, scale)` maps back to
            target units as loc + scale * x and scale * x respectively.
        paired: the raw outputs are two halves per target (a Normal's two parameters).
    """

    name: str
    description: str
    outputs: tuple[str, ...]
    task: str
    sample_outputs: tuple[str, ...] = ()
    exact: bool = False
    locations: tuple[str, ...] = ()
    scales: tuple[str, ...] = ()
    paired: bool = False

    @property
    def is_classifier(self) -> bool:
        return self.task == "classification"

    @property
    def predictive(self) -> bool:
        """Its outputs carry a predictive distribution (a mean and a std), sampled or not."""
        return "std" in self.outputs

    def targets(self, units: int) -> int:
        """How many target values `units` raw outputs stand for."""
        return units // 2 if self.paired else units

    def serve(self, raw, *, min_std: float = MIN_STD) -> dict[str, Any]:
        """The named outputs of one forward pass (TensorFlow ops; float32 `raw`)."""
        raise NotImplementedError

    def summarize(self, samples, *, min_std: float = MIN_STD) -> dict[str, Any]:
        """The predictive distribution of samples (samples, n, units) of raw outputs: every
        statistic `zoo.uncertainty.Uncertainty` holds for this head (TensorFlow ops)."""
        raise ValueError(f"Samples of a {self.name!r} head are not averaged into a predictive distribution; "
                         f"heads that are: {', '.join(sampled_heads())}.")

    def in_target_units(self, named: dict[str, Any], loc: float, scale: float) -> dict[str, Any]:
        """`named` outputs with the regression ones mapped from standardised to target units."""
        if (loc, scale) == (0.0, 1.0):
            return dict(named)
        return {key: loc + scale * value if key in self.locations else scale * value if key in self.scales
                else value for key, value in named.items()}


class Classifier(Head):
    """A head whose one pass gives class probabilities: samples of every such head summarise
    the same way. A new kind of classifier output defines `probabilities` (and `serve`, if it
    serves more than `probabilities` and `classes`)."""

    def probabilities(self, raw):
        raise NotImplementedError

    def serve(self, raw, *, min_std: float = MIN_STD):
        probabilities = self.probabilities(raw)
        return {"probabilities": probabilities, "classes": tf.argmax(probabilities, axis=-1)}

    def summarize(self, samples, *, min_std: float = MIN_STD) -> dict[str, Any]:
        if not self.sample_outputs:
            return Head.summarize(self, samples)
        probabilities = self.probabilities(tf.convert_to_tensor(samples, tf.float32))
        mean = tf.reduce_mean(probabilities, axis=0)
        entropy = entropy_of(mean)
        expected = tf.reduce_mean(entropy_of(probabilities), axis=0)  # aleatoric part
        return {"probabilities": mean, "classes": tf.argmax(mean, axis=-1), "entropy": entropy,
                "expected_entropy": expected, "mutual_information": tf.maximum(entropy - expected, 0.0),
                "std": tf.math.reduce_std(probabilities, axis=0)}


class _Logits(Classifier):
    def probabilities(self, raw):
        return tf.nn.softmax(raw)

    def serve(self, raw, *, min_std: float = MIN_STD):
        return {"logits": raw, "probabilities": tf.nn.softmax(raw), "classes": tf.argmax(raw, axis=-1)}


class _BinaryLogits(Classifier):
    def probabilities(self, raw):
        positive = tf.sigmoid(raw)
        return tf.concat([1 - positive, positive], -1)

    def serve(self, raw, *, min_std: float = MIN_STD):
        probabilities = self.probabilities(raw)
        return {"logits": raw, "probabilities": probabilities,
                "classes": tf.cast(probabilities[:, 1] > 0.5, tf.int64)}


class _Probabilities(Classifier):
    def probabilities(self, raw):
        return tf.concat([1 - raw, raw], -1) if raw.shape[-1] == 1 else raw


class _Classes(Head):
    def serve(self, raw, *, min_std: float = MIN_STD):
        return {"classes": tf.cast(tf.reshape(raw, [-1]) > 0.5, tf.int64)}


class _Normal(Head):
    """[means, raw scales]: the std is softplus(raw) + min_std (`normal_std`)."""

    def mean_std(self, raw, min_std: float = MIN_STD):
        mean, second = tf.split(raw, 2, axis=-1)
        return mean, normal_std(second, min_std)

    def serve(self, raw, *, min_std: float = MIN_STD):
        mean, std = self.mean_std(raw, min_std)
        return {"mean": mean, "std": std}

    def summarize(self, samples, *, min_std: float = MIN_STD):
        """A uniform mixture of the samples' Normals: its variance is the mean of their variances
        (aleatoric) plus the variance of their means (epistemic)."""
        means, stds = self.mean_std(tf.convert_to_tensor(samples, tf.float32), min_std)
        if self.exact:
            return {"mean": means[0], "std": stds[0]}
        aleatoric = tf.reduce_mean(tf.square(stds), axis=0)
        epistemic = tf.math.reduce_variance(means, axis=0)
        return {"mean": tf.reduce_mean(means, axis=0), "std": tf.sqrt(aleatoric + epistemic),
                "aleatoric_std": tf.sqrt(aleatoric), "epistemic_std": tf.sqrt(epistemic)}


class _MeanStd(_Normal):
    """[mean, std], the std already a std (a GP's predictive Normal)."""

    def mean_std(self, raw, min_std: float = MIN_STD):
        return tuple(tf.split(raw, 2, axis=-1))


class _Values(Head):
    def serve(self, raw, *, min_std: float = MIN_STD):
        return {"predictions": raw}


_NORMAL_OUTPUTS = dict(locations=("mean",), scales=("std", "aleatoric_std", "epistemic_std"), paired=True)
_REGISTRY: dict[str, Head] = {head.name: head for head in (
    _Logits("logits", "class logits; softmax gives the probabilities",
            ("logits", "probabilities", "classes"), "classification",
            sample_outputs=("probabilities", "classes", "entropy")),
    _BinaryLogits("binary_logits", "one logit per example; sigmoid gives P(class 1)",
                  ("logits", "probabilities", "classes"), "classification"),
    _Probabilities("probabilities", "class probabilities (P(class 1) for one unit)",
                   ("probabilities", "classes"), "classification"),
    _Classes("classes", "0/1 decisions of a threshold unit", ("classes",), "classification"),
    _Normal("normal", "[means, raw scales] of a Normal per target: std = softplus(raw) + min_std",
            ("mean", "std"), "regression",
            sample_outputs=("mean", "std", "aleatoric_std", "epistemic_std"), **_NORMAL_OUTPUTS),
    _MeanStd("mean_std", "[mean, std] of the predictive Normal per target (exact)", ("mean", "std"),
             "regression", exact=True, **_NORMAL_OUTPUTS),
    _Values("values", "regression values", ("predictions",), "regression", locations=("predictions",)),
)}
HEADS = tuple(_REGISTRY)  # the built-in names, in the order errors list them


def get(name: str) -> Head:
    """The `Head` named `name`; `ValueError` lists the names there are.

    Example:
        >>> get("values").outputs
        ('predictions',)
    """
    if name not in _REGISTRY:
        raise ValueError(f"`head` must be one of {', '.join(_REGISTRY)}. Received: head={name!r}")
    return _REGISTRY[name]


def register(head: Head) -> Head:
    """Adds a new kind of head; then `register_model(head=head.name)`, exports and
    `zoo.uncertainty` handle it with no change elsewhere. A name can be registered once.

    Example:
        >>> class LogProbabilities(Classifier):  # a model ending in log_softmax
        ...     def probabilities(self, raw):
        ...         return tf.exp(raw)
        >>> register(LogProbabilities("log_probabilities", "log class probabilities",  # doctest: +SKIP
        ...                           ("probabilities", "classes"), "classification"))
    """
    if not isinstance(head, Head):
        raise TypeError(f"`head` must be a zoo.heads.Head. Received: {head!r}")
    if head.name in _REGISTRY:
        raise ValueError(f"A head named {head.name!r} is already registered; pick another name.")
    _REGISTRY[head.name] = head
    return head


def unregister(name: str) -> None:
    """Removes a head added with `register` (the built-in ones stay)."""
    get(name)
    if name in HEADS:
        raise ValueError(f"{name!r} is a built-in head and cannot be removed.")
    del _REGISTRY[name]


def names() -> tuple[str, ...]:
    """Every head's name, the built-in ones first."""
    return tuple(_REGISTRY)


def sampled_heads() -> tuple[str, ...]:
    """Heads whose samples summarise into a predictive distribution (Monte Carlo exports)."""
    return tuple(name for name, head in _REGISTRY.items() if head.sample_outputs)


def classifier_head(num_classes: int, activation: str | None = None) -> str:
    """The head of a classifier with `num_classes` output units and an output `activation`
    (None: logits). What catalog entries declare, and what `compile_classifier` trains for.

    Example:
        >>> classifier_head(10), classifier_head(1), classifier_head(3, "softmax")
        ('logits', 'binary_logits', 'probabilities')
    """
    if activation is not None:
        return "probabilities"
    return "binary_logits" if num_classes == 1 else "logits"


def normal_std(raw, min_std: float = MIN_STD):
    """The Normal head's std from its raw scale: softplus(raw) + min_std (never 0, so the
    likelihood stays finite). `GaussianNLL` trains with it; exports and uncertainty use it."""
    return tf.nn.softplus(raw) + min_std


def entropy_of(probabilities):
    """Entropy in nats over the last axis (TensorFlow ops)."""
    return -tf.reduce_sum(probabilities * tf.math.log(probabilities + EPS), axis=-1)


# -- which head a model has ----------------------------------------------------------------
_ATTRIBUTE = "zoo_head"  # set on models `zoo.build` makes, outside Keras' attribute tracking


def declare(model, head: str):
    """Records that `model` outputs `head` (what `zoo.build` does with the entry's declaration).

    Example:
        >>> declare(my_model, "normal")  # doctest: +SKIP
    """
    get(head)
    object.__setattr__(model, _ATTRIBUTE, head)
    return model


def head_of(model) -> str:
    """The name of `model`'s head: what it was built with, or, for a model made outside the
    catalog, what its compiled loss implies ("values" when nothing does).

    Example:
        >>> head_of(zoo.build("lenet"))  # doctest: +SKIP
        'logits'
    """
    declared = model.__dict__.get(_ATTRIBUTE)
    return declared if declared is not None else infer_head(model)


def infer_head(model) -> str:
    """The head a compiled model's loss implies (a GP by its class): what `head_of` falls back to
    for models built outside the catalog. "values" when nothing says otherwise."""
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


def min_std_of(model) -> float:
    """The std floor a Normal-headed model was trained with (its loss's), else `MIN_STD`."""
    return float(getattr(getattr(model, "loss", None), "min_std", MIN_STD))


def num_targets(model, head: str | None = None) -> int:
    """How many values a regression target has per example (half the outputs for Normal heads).

    Example:
        >>> num_targets(zoo.build("gp_regressor"))  # doctest: +SKIP
        1
    """
    return get(head or head_of(model)).targets(model.output_shape[-1])


def model_input_spec(model):
    """The batch input a model takes: a functional model's input, or the shape a subclassed
    model (e.g. `gp_regressor`) was built with, as a `tf.TensorSpec`."""
    inputs = getattr(model, "inputs", None)
    if inputs:
        return tf.TensorSpec((None, *inputs[0].shape[1:]), inputs[0].dtype)
    shape = (model.get_build_config() or {}).get("input_shape")
    if shape is None:
        raise ValueError(f"Cannot tell what input {model.name!r} takes: build or call it first, or pass input_spec.")
    return tf.TensorSpec((None, *shape[1:]), model.compute_dtype)


def logits_head(config) -> str:
    """The head of a classifier entry whose config has `num_classes` and no output activation:
    `logits`, or `binary_logits` for one unit. What such entries pass as `register_model(head=)`.

    Example:
        >>> logits_head({"num_classes": 1})
        'binary_logits'
    """
    return classifier_head(config["num_classes"])
