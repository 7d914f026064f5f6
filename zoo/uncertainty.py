"""Monte Carlo predictions with uncertainty, and the metrics that say whether to trust them.

`predict_with_uncertainty` runs S stochastic forward passes (a Bayesian model's weight
samples, or MC dropout) in one compiled call and splits the predictive uncertainty into its
parts: for classifiers, the predictive entropy H[E_s p_s] = E_s H[p_s] (aleatoric, expected
entropy) + I (mutual information: epistemic, where the samples disagree).

Example:
    >>> result = predict_with_uncertainty(zoo.build("bayesian_lenet"), images, samples=32)  # doctest: +SKIP
    >>> result.probabilities.shape, result.mutual_information.shape  # doctest: +SKIP
    ((360, 10), (360,))
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from zoo import heads
from zoo.heads import EPS, head_of, model_input_spec


@dataclasses.dataclass
class Uncertainty:
    """Per-example results of `predict_with_uncertainty` (NumPy arrays).

    Classifiers: `probabilities` (MC mean, (n, classes)), `std` (per-class std over samples),
    `entropy` (predictive entropy, nats), `expected_entropy` (aleatoric part),
    `mutual_information` (epistemic part), `classes` (argmax).
    Heteroscedastic regressors: `mean`, `std` (total: aleatoric and epistemic),
    `aleatoric_std`, `epistemic_std`.
    """

    samples: int
    probabilities: np.ndarray | None = None
    classes: np.ndarray | None = None
    entropy: np.ndarray | None = None
    expected_entropy: np.ndarray | None = None
    mutual_information: np.ndarray | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    aleatoric_std: np.ndarray | None = None
    epistemic_std: np.ndarray | None = None


def _needs_independent_calls(model) -> bool:
    """Variational layers draw one weight perturbation per call for the whole batch (Flipout
    only flips its signs per example), so copies of a batch in one call are not independent
    samples: a test measured the bias. Dropout masks are drawn per element, so tiling works."""
    from zoo.layers.variational import variational_layers

    return bool(variational_layers(model))


def stochastic(model) -> bool:
    """Whether `model`'s predictions are samples: it has variational layers or layers that
    keep dropout on at inference (MC dropout), also inside nested models (ensemble members)."""
    from zoo.layers import MCDropout, MCLSTM
    from zoo.layers.variational import variational_layers

    if variational_layers(model):
        return True
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        if isinstance(layer, (MCDropout, MCLSTM)):
            return True
        stack.extend(getattr(layer, "layers", []))
    return False


def sample_outputs(model, x, samples: int = 32, *, batch_size: int = 1024, training: bool = False):
    """Raw model outputs of `samples` stochastic passes: an array (samples, n, outputs).

    Each batch runs as one compiled call: for variational models the samples are mapped over
    inside the graph (each draws its own weights); otherwise (MC dropout) the batch is tiled
    `samples` times.
    `training=True` keeps dropout active (MC dropout).
    """
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"`samples` must be a positive integer. Received: samples={samples!r}")
    x = np.asarray(x)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"`x` must be a non-empty batch. Received: x with shape {x.shape}")
    dtype = model_input_spec(model).dtype
    run = _sampler(model, samples, training)
    # `batch_size` inputs per call, i.e. batch_size * samples rows through the model.
    parts = [run(tf.constant(x[i:i + batch_size], dtype)).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(parts, axis=1)


def _sampler(model, samples: int, training: bool):
    """The compiled sampling function for a model, made once per (samples, training): a new
    `tf.function` per call would retrace every time (measured: the cost of a whole call).
    Kept on the model (outside Keras' attribute tracking), so it goes when the model goes."""
    per_model = model.__dict__.get("_zoo_samplers")
    if per_model is None:
        per_model = {}
        object.__setattr__(model, "_zoo_samplers", per_model)
    key = (samples, training)
    if key in per_model:
        return per_model[key]
    per_call = _needs_independent_calls(model)

    @tf.function(reduce_retracing=True)
    def run(batch):
        if per_call:
            return tf.map_fn(lambda _: tf.cast(model(batch, training=training), tf.float32),
                             tf.range(samples), fn_output_signature=tf.float32)
        tiled = tf.tile(batch, tf.concat([[samples], tf.ones(tf.rank(batch) - 1, tf.int32)], 0))
        out = tf.cast(model(tiled, training=training), tf.float32)
        return tf.reshape(out, tf.concat([[samples, tf.shape(batch)[0]], tf.shape(out)[1:]], 0))

    per_model[key] = run
    return run


def predict_with_uncertainty(model, x, samples: int = 32, *, head: str | None = None,
                             batch_size: int = 1024, mc_dropout: bool = False) -> Uncertainty:
    """Predictive mean and uncertainty of `model` on `x` from `samples` stochastic passes.

    `head` is read from the model when None (`zoo.heads`): "logits" for classifiers, "normal"
    for regressors trained with `GaussianNLL`, "mean_std" for `gp_regressor` (exact: one
    pass, `samples` unused). `mc_dropout=True` keeps dropout on (MC dropout).

    An ensemble (`zoo.build(name, ensemble_size=N)`, head "ensemble:<member head>") treats its
    members as exact samples: one pass when they are deterministic (`samples` unused), and
    `samples` passes of all N members, summarised together, when they are stochastic (Bayesian
    or MC-dropout members).

    Example:
        >>> u = predict_with_uncertainty(model, x_test, samples=32)  # doctest: +SKIP
        >>> u.probabilities.argmax(-1), u.mutual_information  # doctest: +SKIP
    """
    kind = heads.get(head or head_of(model))
    if not (kind.sample_outputs or kind.exact):
        handled = [name for name in heads.names() if heads.get(name).sample_outputs or heads.get(name).exact]
        raise ValueError(f"`head` must be one of {', '.join(handled)}. Received: head={kind.name!r}")
    if kind.exact and not (mc_dropout or stochastic(model)):
        # A Gaussian process, or an ensemble of deterministic members: one pass gives the
        # predictive distribution (an ensemble's members are its exact samples).
        samples = 1
        outputs = np.asarray(model.predict(np.asarray(x), batch_size=batch_size, verbose=0))[None]
    else:
        outputs = sample_outputs(model, x, samples, batch_size=batch_size, training=mc_dropout)
    summary = kind.summarize(outputs, min_std=heads.min_std_of(model))
    return Uncertainty(samples=samples, **{key: np.asarray(value) for key, value in summary.items()})


def _entropy(probabilities: np.ndarray) -> np.ndarray:
    return -np.sum(probabilities * np.log(probabilities + EPS), axis=-1)


# -- metrics -------------------------------------------------------------------------------
def _check(probabilities, labels):
    probabilities, labels = np.asarray(probabilities, np.float64), np.asarray(labels).astype(int)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError("Expected probabilities of shape (n, classes) and n labels. Received: "
                         f"probabilities {probabilities.shape}, labels {labels.shape}")
    return probabilities, labels


def negative_log_likelihood(probabilities, labels) -> float:
    """Mean -log p(label), in nats.

    Example:
        >>> round(negative_log_likelihood([[0.5, 0.5]], [0]), 4)
        0.6931
    """
    probabilities, labels = _check(probabilities, labels)
    return float(-np.mean(np.log(probabilities[np.arange(len(labels)), labels] + EPS)))


def brier_score(probabilities, labels) -> float:
    """Mean squared distance between the probabilities and the one-hot label (0 is perfect).

    Example:
        >>> brier_score([[1.0, 0.0]], [0])
        0.0
    """
    probabilities, labels = _check(probabilities, labels)
    onehot = np.eye(probabilities.shape[1])[labels]
    return float(np.mean(np.sum((probabilities - onehot) ** 2, axis=1)))


def calibration_bins(probabilities, labels, bins: int = 15):
    """Per equal-width confidence bin: (mean confidence, accuracy, count)."""
    probabilities, labels = _check(probabilities, labels)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    conf = np.bincount(which, weights=confidence, minlength=bins) / np.maximum(counts, 1)
    acc = np.bincount(which, weights=correct, minlength=bins) / np.maximum(counts, 1)
    return conf, acc, counts


def expected_calibration_error(probabilities, labels, bins: int = 15) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over `bins` equal-width bins.

    Example:
        >>> expected_calibration_error([[0.9, 0.1], [0.9, 0.1]], [0, 1])
        0.4
    """
    conf, acc, counts = calibration_bins(probabilities, labels, bins)
    return float(np.sum(counts * np.abs(acc - conf)) / counts.sum())


def gaussian_negative_log_likelihood(mean, std, targets) -> float:
    """Mean -log N(target | mean, std²) per target value, in nats (target units).

    Example:
        >>> round(gaussian_negative_log_likelihood([0.0], [1.0], [0.0]), 4)
        0.9189
    """
    mean, std, targets = (np.asarray(a, np.float64).reshape(-1) for a in (mean, std, targets))
    return float(np.mean(0.5 * np.log(2 * np.pi * std**2) + 0.5 * ((targets - mean) / std) ** 2))


def interval_coverage(mean, std, targets, level: float = 0.95) -> float:
    """Fraction of targets inside the central `level` interval of N(mean, std²): about
    `level` when the predicted stds are honest.

    Example:
        >>> interval_coverage([0.0, 0.0], [1.0, 1.0], [0.5, 3.0])
        0.5
    """
    from scipy.stats import norm

    mean, std, targets = (np.asarray(a, np.float64).reshape(-1) for a in (mean, std, targets))
    return float(np.mean(np.abs(targets - mean) <= norm.ppf(0.5 + level / 2) * std))


def auroc(scores_negative, scores_positive) -> float:
    """Area under the ROC curve for telling positives (higher scores) from negatives: the
    probability that a random positive scores above a random negative (ties count half).
    With predictive entropy as the score and out-of-distribution inputs as positives, it
    says how well the uncertainty flags inputs unlike the training data.

    Example:
        >>> auroc([0.1, 0.2], [0.3, 0.15])
        0.75
    """
    from scipy.stats import rankdata

    negative, positive = np.asarray(scores_negative, np.float64), np.asarray(scores_positive, np.float64)
    if negative.size == 0 or positive.size == 0:
        raise ValueError("auroc needs at least one score in each group.")
    ranks = rankdata(np.concatenate([negative, positive]))  # ties: average rank (Mann-Whitney U)
    positive_ranks = ranks[len(negative):].sum()
    return float((positive_ranks - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative)))


def reliability_bins(count: int, most: int = 15, per_bin: int = 50) -> int:
    """Bins for a reliability diagram of `count` examples: the usual 15, fewer when there are
    fewer than `per_bin` examples per bin on average (at least 5), so bars are not noise."""
    return int(min(most, max(5, count // per_bin)))


def reliability_diagram(probabilities, labels, path: str | os.PathLike, *, bins: int | None = None,
                        title: str = "") -> str:
    """Saves accuracy against confidence per bin, the diagonal, and each bin's example count as
    a PNG; returns the path. `bins=None` picks `reliability_bins(len(labels))` equal-width
    bins; the figure says how many, the number of examples and the ECE over those bins, and the
    15-bin ECE of `metrics.json` when it differs."""
    import matplotlib.pyplot as plt

    figure = reliability_figure(probabilities, labels, bins=bins, title=title)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return str(path)


def reliability_figure(probabilities, labels, *, bins: int | None = None, title: str = ""):
    """The matplotlib figure `reliability_diagram` saves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = len(np.asarray(labels).reshape(-1))
    bins = bins or reliability_bins(count)
    conf, acc, counts = calibration_bins(probabilities, labels, bins)
    centers = (np.arange(bins) + 0.5) / bins
    figure, (axis, below) = plt.subplots(2, 1, figsize=(4.4, 5.2), sharex=True,
                                          gridspec_kw={"height_ratios": [3, 1]})
    axis.bar(centers, np.where(counts > 0, acc, 0), width=1 / bins, edgecolor="black", alpha=0.7, label="accuracy")
    axis.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    axis.set_ylabel("accuracy")
    ece = expected_calibration_error(probabilities, labels, bins)
    subtitle = f"ECE {ece:.3f} over {bins} equal-width bins, {count:,} examples"
    if bins != 15:
        subtitle += f"\n(15-bin ECE, as in metrics.json: {expected_calibration_error(probabilities, labels, 15):.3f})"
    axis.set_title(f"{title}\n{subtitle}" if title else subtitle, fontsize=9)
    axis.legend(loc="upper left")
    below.bar(centers, counts, width=1 / bins, edgecolor="black", color="tab:gray")
    for x, n in zip(centers, counts):
        if n:
            below.annotate(f"{int(n)}", (x, n), ha="center", va="bottom", fontsize=7)
    below.set_yscale("log" if counts.max() > 20 * max(1, counts[counts > 0].min()) else "linear")
    below.set_xlabel("confidence")
    below.set_ylabel("examples")
    figure.tight_layout()
    return figure
