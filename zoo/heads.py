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
    gp_latent       [means, variances] of a GP classifier's latent values: probabilities integrate
                    the likelihood over them (exact; Gauss-Hermite or fixed Monte Carlo draws)
    gp_robustmax    the same under the robust-max likelihood (Gauss-Hermite)
    normal          [means, raw scales] of a Normal per target: std = softplus(raw) + min_std
                    (`GaussianNLL`, heteroscedastic regression)
    mean_std        [mean, std] of a Normal (Gaussian-process regression: exact, no sampling)
    values          plain regression outputs
    ensemble:<head> N members' raw outputs of <head>, stacked (batch, N, units): the members are
                    exact samples of the predictive distribution (`ensemble_of`, deep ensembles)

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
    >>> get("ensemble:logits").outputs
    ('probabilities', 'classes', 'entropy', 'mutual_information')
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

from zoo._lazy import lazy_import

tf = lazy_import("tensorflow")
keras = lazy_import("keras")  # class probabilities in `keras.ops`: training metrics run on any backend

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
        """Its outputs carry a predictive distribution (a mean and a std, or a GP classifier's
        integrated probabilities), sampled or not."""
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

    @property
    def extra_signatures(self) -> dict[str, tuple[str, ...]]:
        """Signatures an export adds beside `serving_default` (an ensemble's `members`), and
        their outputs; `signatures` computes them. None for most heads."""
        return {}

    def signatures(self, raw, *, min_std: float = MIN_STD) -> dict[str, dict[str, Any]]:
        """The named outputs of each of `extra_signatures` from one forward pass."""
        return {}

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
        return self.mixture(samples)

    def mixture(self, samples, *, min_std: float = MIN_STD) -> dict[str, Any]:
        """The predictive distribution of equally weighted samples (samples, n, units) of raw
        outputs: the mean probabilities, and the entropy split into its expected (aleatoric)
        part and the mutual information (epistemic: where the samples disagree)."""
        probabilities = self.probabilities(tf.convert_to_tensor(samples, tf.float32))
        mean = tf.reduce_mean(probabilities, axis=0)
        entropy = entropy_of(mean)
        expected = tf.reduce_mean(entropy_of(probabilities), axis=0)  # aleatoric part
        return {"probabilities": mean, "classes": tf.argmax(mean, axis=-1), "entropy": entropy,
                "expected_entropy": expected, "mutual_information": tf.maximum(entropy - expected, 0.0),
                "std": tf.math.reduce_std(probabilities, axis=0)}


class _Logits(Classifier):
    def probabilities(self, raw):
        return keras.ops.softmax(raw)

    def serve(self, raw, *, min_std: float = MIN_STD):
        return {"logits": raw, "probabilities": tf.nn.softmax(raw), "classes": tf.argmax(raw, axis=-1)}


class _BinaryLogits(Classifier):
    def probabilities(self, raw):
        positive = keras.ops.sigmoid(raw)
        return keras.ops.concatenate([1 - positive, positive], -1)

    def serve(self, raw, *, min_std: float = MIN_STD):
        probabilities = self.probabilities(raw)
        return {"logits": raw, "probabilities": probabilities,
                "classes": tf.cast(probabilities[:, 1] > 0.5, tf.int64)}


class _Probabilities(Classifier):
    def probabilities(self, raw):
        return keras.ops.concatenate([1 - raw, raw], -1) if raw.shape[-1] == 1 else raw


class _Classes(Classifier):
    """0/1 decisions: as probabilities, one-hot (so an ensemble's mean is the members' vote)."""

    def probabilities(self, raw):
        positive = keras.ops.cast(raw > 0.5, "float32")
        return keras.ops.concatenate([1 - positive, positive], -1)

    def serve(self, raw, *, min_std: float = MIN_STD):
        return {"classes": tf.cast(tf.reshape(raw, [-1]) > 0.5, tf.int64)}


QUADRATURE_POINTS = 20  # Gauss-Hermite nodes: E[sigmoid(f)] to ~1e-7 for the variances GPs reach
PREDICTIVE_SAMPLES = 256  # fixed draws (times the classes, `_standard_normal_draws`) for E[softmax(f)]:
# the same every call, so serving is deterministic
ROBUSTMAX_EPSILON = 1e-3  # the robust-max label-noise rate: Hensman et al. 2015's and GPflow's


def gauss_hermite(points: int = QUADRATURE_POINTS):
    """Nodes t and weights w with E[g(f)] ≈ Σ w·g(μ + √(2σ²)·t) for f ~ N(μ, σ²) (the weights
    include the 1/√π), as float32 arrays."""
    import numpy as np

    nodes, weights = np.polynomial.hermite.hermgauss(points)
    return nodes.astype("float32"), (weights / np.sqrt(np.pi)).astype("float32")


@functools.lru_cache(maxsize=64)
def _standard_normal_draws(samples: int, units: int):
    """Fixed standard Normal draws (samples·units, units) for E[softmax(f)]: antithetic pairs,
    matched to mean 0 and variance 1 per unit, and every cyclic shift of each draw across the
    units, so equal latent marginals give exactly equal class probabilities (a GP far from its
    data returns to the uniform prior, not to the draws' noise)."""
    import numpy as np

    half = np.random.default_rng(20150101).standard_normal((samples // 2, units))
    draws = np.concatenate([half, -half])
    draws /= draws.std(axis=0)
    shifted = np.concatenate([np.roll(draws, shift, axis=1) for shift in range(units)])
    return shifted.astype("float32")


def robustmax_argmax_probabilities(mean, variance, points: int = QUADRATURE_POINTS):
    """P(k = argmax_j f_j) for every class k under independent f_j ~ N(mean_j, variance_j), by
    Gauss-Hermite quadrature over f_k of the product of the other classes' Normal CDFs at f_k
    (Hensman et al. 2015), normalised. Shapes (batch, classes) in and out.

    Example:
        >>> import numpy as np
        >>> p = robustmax_argmax_probabilities(np.zeros((1, 4), "float32"), np.ones((1, 4), "float32"))
        >>> np.round(keras.ops.convert_to_numpy(p), 4).tolist()
        [[0.25, 0.25, 0.25, 0.25]]
    """
    nodes, weights = gauss_hermite(points)
    classes = mean.shape[-1]
    std = keras.ops.sqrt(variance)
    f = mean[..., :, None] + math.sqrt(2) * std[..., :, None] * nodes  # f_k at the nodes: (batch, k, nodes)
    z = (f[..., :, None, :] - mean[..., None, :, None]) / std[..., None, :, None]  # (batch, k, j, nodes)
    cdf = 0.5 * (1 + keras.ops.erf(z / math.sqrt(2)))
    others = keras.ops.where(keras.ops.eye(classes, dtype="bool")[:, :, None], keras.ops.ones_like(cdf), cdf)
    argmax = keras.ops.sum(weights * keras.ops.prod(others, axis=-2), axis=-1)
    # 20 nodes miss by up to ~1e-2 where one latent's variance dwarfs another's (its CDF is then
    # nearly a step); normalising keeps the classes a distribution.
    return argmax / keras.ops.sum(argmax, axis=-1, keepdims=True)


class _GPLatent(Classifier):
    """[means, variances] of q(f) for one latent function (Bernoulli: P(class 1) = E[sigmoid(f)],
    by Gauss-Hermite quadrature) or one per class (categorical: E[softmax(f)], by Monte Carlo
    with fixed draws). Served `logits` are the log predictive probabilities."""

    @property
    def predictive(self) -> bool:  # its probabilities already are the predictive distribution
        return True

    def summarize(self, samples, *, min_std: float = MIN_STD) -> dict[str, Any]:
        """One pass is the predictive distribution (exact; no Monte Carlo export): its
        probabilities and entropy, with zero mutual information. Passes of a stochastic feature
        network (MC dropout in front of the GP) mix like any classifier's samples."""
        return self.mixture(samples)

    def log_probabilities(self, raw):
        mean, variance = keras.ops.split(raw, 2, axis=-1)
        if mean.shape[-1] == 1:
            nodes, weights = gauss_hermite()
            f = mean + keras.ops.sqrt(2 * variance) * nodes  # (batch, nodes)
            log_weights = keras.ops.log(weights)
            positive = keras.ops.logsumexp(log_weights + keras.ops.log_sigmoid(f), axis=-1, keepdims=True)
            negative = keras.ops.logsumexp(log_weights + keras.ops.log_sigmoid(-f), axis=-1, keepdims=True)
            return keras.ops.concatenate([negative, positive], -1)
        draws = _standard_normal_draws(PREDICTIVE_SAMPLES, mean.shape[-1])
        f = mean[..., None, :] + keras.ops.sqrt(variance)[..., None, :] * draws  # (..., samples, classes)
        return keras.ops.logsumexp(keras.ops.log_softmax(f, axis=-1), axis=-2) - math.log(len(draws))

    def probabilities(self, raw):
        return keras.ops.exp(self.log_probabilities(raw))

    def serve(self, raw, *, min_std: float = MIN_STD):
        log_probabilities = self.log_probabilities(raw)
        probabilities = tf.exp(log_probabilities)
        return {"logits": log_probabilities, "probabilities": probabilities,
                "classes": tf.argmax(probabilities, axis=-1), "entropy": entropy_of(probabilities)}


class _GPRobustMax(_GPLatent):
    """[means, variances] of q(f), one latent per class, under the robust-max likelihood
    (Hensman et al. 2015): P(y = k | f) = 1 - ε when k = argmax f, else ε / (classes - 1), so
    P(y = k) = (1 - ε)·P(k = argmax f) + ε/(classes - 1)·(1 - P(k = argmax f)) by quadrature."""

    def log_probabilities(self, raw):
        mean, variance = keras.ops.split(raw, 2, axis=-1)
        argmax = robustmax_argmax_probabilities(mean, variance)
        rest = ROBUSTMAX_EPSILON / (mean.shape[-1] - 1)
        return keras.ops.log((1 - ROBUSTMAX_EPSILON - rest) * argmax + rest)


class _Normal(Head):
    """[means, raw scales]: the std is softplus(raw) + min_std (`normal_std`)."""

    def mean_std(self, raw, min_std: float = MIN_STD):
        mean, second = tf.split(raw, 2, axis=-1)
        return mean, normal_std(second, min_std)

    def serve(self, raw, *, min_std: float = MIN_STD):
        mean, std = self.mean_std(raw, min_std)
        return {"mean": mean, "std": std}

    def summarize(self, samples, *, min_std: float = MIN_STD):
        if self.exact:
            mean, std = self.mean_std(tf.convert_to_tensor(samples, tf.float32)[0], min_std)
            return {"mean": mean, "std": std}
        return self.mixture(samples, min_std=min_std)

    def mixture(self, samples, *, min_std: float = MIN_STD):
        """A uniform mixture of the samples' Normals: its variance is the mean of their variances
        (aleatoric) plus the variance of their means (epistemic)."""
        means, stds = self.mean_std(tf.convert_to_tensor(samples, tf.float32), min_std)
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

    def mixture(self, samples, *, min_std: float = MIN_STD):
        """Point predictions from equally weighted samples: their mean, and their spread as the
        (epistemic, the only) std."""
        samples = tf.convert_to_tensor(samples, tf.float32)
        std = tf.math.reduce_std(samples, axis=0)
        return {"mean": tf.reduce_mean(samples, axis=0), "std": std, "epistemic_std": std}


@dataclasses.dataclass(frozen=True)
class Ensemble(Head):
    """N members' raw outputs of one `member` head, stacked (batch, N, units): a deep
    ensemble (Lakshminarayanan, Pritzel & Blundell 2017). The members are exact, equally
    weighted samples of the predictive distribution, which one pass gives (`exact`):
    classifiers average the members' probabilities (mutual information = their
    disagreement), regressors form the uniform mixture of the members' Normals (or, for point
    predictions, their mean and spread). Monte Carlo passes of stochastic members (MC dropout,
    Bayesian layers) summarise as a mixture over passes x members. The `members` signature of
    an export serves each member's own outputs.
    """

    member: Head | None = None

    @property
    def predictive(self) -> bool:
        return True

    def targets(self, units: int) -> int:
        return self.member.targets(units)

    def _flat(self, samples):
        """(samples, n, members, units) -> (samples * members, n, units)."""
        samples = tf.convert_to_tensor(samples, tf.float32)
        samples = tf.transpose(samples, tf.concat([[0, 2, 1], tf.range(3, tf.rank(samples))], 0))
        return tf.reshape(samples, tf.concat([[-1], tf.shape(samples)[2:]], 0))

    def summarize(self, samples, *, min_std: float = MIN_STD):
        return self.member.mixture(self._flat(samples), min_std=min_std)

    def serve(self, raw, *, min_std: float = MIN_STD):
        summary = self.summarize(tf.convert_to_tensor(raw)[None], min_std=min_std)
        return {key: summary[key] for key in self.outputs}

    @property
    def extra_signatures(self):
        return {"members": self.member.outputs}

    def signatures(self, raw, *, min_std: float = MIN_STD):
        """`members`: each member's outputs (batch, N, ...), as its head serves them alone."""
        raw = tf.convert_to_tensor(raw)
        batch, members = tf.shape(raw)[0], tf.shape(raw)[1]
        flat = tf.reshape(raw, tf.concat([[batch * members], tf.shape(raw)[2:]], 0))
        served = self.member.serve(flat, min_std=min_std)
        return {"members": {key: tf.reshape(value, tf.concat([[batch, members], tf.shape(value)[1:]], 0))
                            for key, value in served.items()}}


ENSEMBLE_PREFIX = "ensemble:"


def ensemble_of(member: str) -> str:
    """The name of the head of an ensemble whose members output `member`.

    Example:
        >>> ensemble_of("normal"), get(ensemble_of("normal")).outputs
        ('ensemble:normal', ('mean', 'std', 'aleatoric_std', 'epistemic_std'))
    """
    head = get(member)
    if not hasattr(head, "mixture"):
        ensembled = [name for name in _REGISTRY if hasattr(_REGISTRY[name], "mixture")]
        raise ValueError(f"Members with a {member!r} head cannot be combined into an ensemble; heads that can: "
                         f"{', '.join(ensembled)}.")
    return ENSEMBLE_PREFIX + head.name


def _make_ensemble(member: Head) -> Ensemble:
    if member.is_classifier:
        outputs = ("probabilities", "classes", "entropy", "mutual_information")
        units = {}
    else:
        outputs = ("mean", "std", "aleatoric_std", "epistemic_std") if member.paired else ("mean", "std")
        # The mixture's outputs, and the members' own (`members` signature), in target units.
        units = dict(locations=tuple(dict.fromkeys(("mean", *member.locations))),
                     scales=tuple(dict.fromkeys(("std", "aleatoric_std", "epistemic_std", *member.scales))))
    return Ensemble(ENSEMBLE_PREFIX + member.name, f"an ensemble of members: {member.description}", outputs,
                    member.task, sample_outputs=outputs, exact=True, member=member, **units)


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
    _GPLatent("gp_latent", "[means, variances] of latent GP values (one, or one per class); probabilities "
              "integrate the likelihood over them (exact)", ("logits", "probabilities", "classes", "entropy"),
              "classification", exact=True),
    _GPRobustMax("gp_robustmax", "[means, variances] of latent GP values, one per class, robust-max likelihood; "
                 "probabilities integrate it over them (exact)", ("logits", "probabilities", "classes", "entropy"),
                 "classification", exact=True),
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
        if isinstance(name, str) and name.startswith(ENSEMBLE_PREFIX) and name[len(ENSEMBLE_PREFIX):] in _REGISTRY:
            member = _REGISTRY[name[len(ENSEMBLE_PREFIX):]]
            ensemble_of(member.name)  # refuses a member head that cannot be combined
            return _make_ensemble(member)
        raise ValueError(f"`head` must be one of {', '.join(_REGISTRY)}, or {ENSEMBLE_PREFIX}<one of them>. "
                         f"Received: head={name!r}")
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
    if type(getattr(model, "loss", None)).__name__ == "MeanStdNLL":  # a sparse variational GP regressor
        return "mean_std"
    if type(getattr(model, "loss", None)).__name__ == "VariationalClassificationNLL":
        return "gp_robustmax" if model.loss.likelihood == "robustmax" else "gp_latent"
    loss = getattr(model, "loss", None)
    if type(loss).__name__ == "EnsembleLoss":  # zoo.ensembles: what its members train on
        return ensemble_of(infer_head(_Compiled(loss.member)))
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


@dataclasses.dataclass
class _Compiled:
    loss: Any  # a stand-in model compiled with an ensemble member's loss, for `infer_head`


def min_std_of(model) -> float:
    """The std floor a Normal-headed model was trained with (its loss's, or its ensemble
    members'), else `MIN_STD`."""
    loss = getattr(model, "loss", None)
    loss = getattr(loss, "member", loss)
    return float(getattr(loss, "min_std", MIN_STD))


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
