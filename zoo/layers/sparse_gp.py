"""Sparse variational Gaussian processes as Keras 3 layers, maths by TFP (Hensman et al. 2015).

TFP's `VariationalGaussianProcess` layer is a Keras 2 (`tf_keras`) layer that Keras 3 models
reject, like the rest of `tfp.layers`. `SparseVariationalGP` is the Keras 3 layer: M inducing
inputs Z (trainable), a whitened Gaussian variational posterior over the inducing values,
u = L v with K(Z, Z) = L Lᵀ and q(v) = N(m, S Sᵀ) (S lower-triangular, the Cholesky
parameterisation), and a TFP kernel (ARD squared exponential by default). For inputs x it
returns the marginals of q(f(x)) = ∫ p(f(x) | u) q(u) du,

    mean = Aᵀ m,   variance = k(x, x) - ‖A‖² + ‖Sᵀ A‖²,   A = L⁻¹ K(Z, x),

for each of `units` latent functions (they share Z and the kernel), and adds
`kl_weight · KL(q(v) ‖ N(0, I))` with `add_loss` (TFP's `MultivariateNormalTriL` KL);
`kl_weight` defaults to 1 / `num_train_examples`, so a minibatch loss of the per-example
expected negative log-likelihood plus the added terms is the negative ELBO / N: `fit` on
minibatches is stochastic variational inference, under `tf.distribute` strategies too (Keras
divides added losses by the number of replicas, so the KL counts once per step).

The likelihood is what follows the layer:
- `GaussianLikelihood` (regression): a trainable noise variance; its output is the
  predictive [mean, std] of a target (the `mean_std` head), and with `MeanStdNLL` as the loss
  the training objective is the closed-form Gaussian ELBO (Titsias 2009).
- Classification: the layer's [means, variances] are the `gp_latent` head, whose predictive
  probabilities integrate the likelihood (Bernoulli by Gauss-Hermite quadrature, categorical by
  Monte Carlo with fixed draws); `VariationalClassificationNLL` is the expected negative
  log-likelihood the ELBO needs (quadrature, or fresh Monte Carlo draws each step).

Inducing inputs should start where the data are: `initialize_inducing_points(model, x)` puts
them on a spread-out subset of the layer's inputs (k-means++ seeding) and sets the length
scales by the median-distance heuristic; `zoo train` does it before training.

Example:
    >>> layer = SparseVariationalGP(units=1, num_inducing=16, num_train_examples=1000)  # doctest: +SKIP
    >>> layer(np.zeros((4, 3), "float32")).shape  # [mean, variance] per input  # doctest: +SKIP
    TensorShape([4, 2])
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import heads
from zoo.layers.variational import softplus_inverse

tfd = tfp.distributions
psd_kernels = tfp.math.psd_kernels

# TFP's stationary kernels by the names a config uses; each is wrapped in `FeatureScaled`
# for one length scale per input feature (ARD).
KERNELS = {
    "exponentiated_quadratic": psd_kernels.ExponentiatedQuadratic,  # squared exponential, RBF
    "matern52": psd_kernels.MaternFiveHalves,
    "matern32": psd_kernels.MaternThreeHalves,
    "matern12": psd_kernels.MaternOneHalf,
    "rational_quadratic": psd_kernels.RationalQuadratic,
}
MIN_VARIANCE = 1e-10  # a latent variance below this is rounding error


def check_kernel(kernel: str) -> None:
    if kernel not in KERNELS:
        raise ValueError(f"Unknown kernel {kernel!r}. Expected one of: {', '.join(KERNELS)}.")


@keras.saving.register_keras_serializable(package="zoo")
class SparseVariationalGP(keras.layers.Layer):
    """q(f(x)) of `units` sparse variational GPs: outputs (batch, 2·units), [means, variances].

    Args:
        units: latent functions (1 for regression or a Bernoulli classifier, one per class
            for a categorical one).
        num_inducing: inducing inputs M (cost O(M³) per step plus O(M² · batch)).
        kernel: a name in `KERNELS`, with one length scale per input feature.
        amplitude: initial kernel amplitude (std of f under the prior).
        length_scale: initial length scale; None: √features, which suits standardised inputs
            until `initialize_inducing_points` sets the median-distance heuristic.
        num_train_examples, kl_weight: the KL term's weight is kl_weight, else 1 / N.
        jitter: added to K(Z, Z)'s diagonal (float64) for its Cholesky factor.
        seed: for the initial inducing inputs (standard Normal, for standardised inputs).
    """

    def __init__(self, units: int = 1, num_inducing: int = 64, kernel: str = "exponentiated_quadratic",
                 amplitude: float = 1.0, length_scale: float | None = None,
                 num_train_examples: int | None = None, kl_weight: float | None = None,
                 jitter: float = 1e-6, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        checks = [("units", units, isinstance(units, int) and units >= 1, "an integer >= 1"),
                  ("num_inducing", num_inducing, isinstance(num_inducing, int) and 1 <= num_inducing <= 4096,
                   "an integer in [1, 4096]"),
                  ("amplitude", amplitude, amplitude > 0, "a number > 0"),
                  ("length_scale", length_scale, length_scale is None or length_scale > 0, "a number > 0 or None"),
                  ("num_train_examples", num_train_examples, num_train_examples is None
                   or (isinstance(num_train_examples, int) and num_train_examples >= 1), "an integer >= 1 or None"),
                  ("kl_weight", kl_weight, kl_weight is None or kl_weight >= 0, "a number >= 0 or None"),
                  ("jitter", jitter, jitter >= 0, "a number >= 0")]
        for name, value, ok, expected in checks:
            if not ok:
                raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")
        check_kernel(kernel)
        self.units = units
        self.num_inducing = num_inducing
        self.kernel_name = kernel
        self.amplitude_init = float(amplitude)
        self.length_scale_init = None if length_scale is None else float(length_scale)
        self.num_train_examples = num_train_examples
        self.kl_weight_init = float(kl_weight if kl_weight is not None else 1.0 / (num_train_examples or 1))
        self.jitter = float(jitter)
        self.seed = seed

    def build(self, input_shape):
        features = int(input_shape[-1])
        m, units = self.num_inducing, self.units
        length_scale = self.length_scale_init or math.sqrt(features)
        self.inducing_points = self.add_weight(
            name="inducing_points", shape=(m, features),
            initializer=keras.initializers.RandomNormal(seed=self.seed))
        self.raw_amplitude = self.add_weight(
            name="raw_amplitude", shape=(), initializer=keras.initializers.Constant(softplus_inverse(self.amplitude_init)))
        self.raw_length_scales = self.add_weight(
            name="raw_length_scales", shape=(features,),
            initializer=keras.initializers.Constant(softplus_inverse(length_scale)))
        # Whitened: q(v) = N(m, S Sᵀ) starts next to the prior N(0, I): m ~ N(0, 1e-3²), as GPyTorch
        # starts it, because at exactly the prior the predictive does not depend on the inducing
        # inputs and their first gradient is zero. S is stored as the M(M+1)/2 entries of its
        # lower triangle, so every stored number receives a gradient.
        self.variational_loc = self.add_weight(
            name="variational_loc", shape=(units, m),
            initializer=keras.initializers.RandomNormal(stddev=1e-3, seed=None if self.seed is None else self.seed + 1))
        identity = tfp.math.fill_triangular_inverse(tf.eye(m, dtype=tf.float32)).numpy()
        self.variational_scale = self.add_weight(
            name="variational_scale", shape=(units, m * (m + 1) // 2),
            initializer=keras.initializers.Constant(np.tile(identity, (units, 1))))
        self.kl_weight = self.add_weight(name="kl_weight", shape=(), trainable=False,
                                         initializer=keras.initializers.Constant(self.kl_weight_init))

    # -- the GP ------------------------------------------------------------------------------
    def kernel(self) -> psd_kernels.PositiveSemidefiniteKernel:
        """The ARD kernel with the current hyperparameters (float64)."""
        amplitude = tf.nn.softplus(tf.cast(self.raw_amplitude, tf.float64))
        length_scales = tf.nn.softplus(tf.cast(self.raw_length_scales, tf.float64))
        base = KERNELS[self.kernel_name](amplitude=amplitude, length_scale=tf.constant(1.0, tf.float64))
        return psd_kernels.FeatureScaled(base, scale_diag=length_scales)

    @property
    def length_scales(self) -> np.ndarray:
        return tf.nn.softplus(self.raw_length_scales).numpy()

    def scale_tril(self):
        """S, (units, M, M) lower-triangular, float64."""
        return tfp.math.fill_triangular(tf.cast(self.variational_scale, tf.float64))

    def inducing_cholesky(self):
        """L with L Lᵀ = K(Z, Z) + jitter·I (float64)."""
        z = tf.cast(self.inducing_points, tf.float64)
        kzz = self.kernel().matrix(z, z)
        return tf.linalg.cholesky(tf.linalg.set_diag(kzz, tf.linalg.diag_part(kzz) + self.jitter))

    def moments(self, x):
        """Means and variances of q(f(x)), each (batch, units), float64."""
        x = tf.cast(x, tf.float64)
        kernel = self.kernel()
        chol = self.inducing_cholesky()
        a = tf.linalg.triangular_solve(chol, kernel.matrix(tf.cast(self.inducing_points, tf.float64), x),
                                       lower=True)  # (M, batch)
        mean = tf.matmul(tf.cast(self.variational_loc, tf.float64), a)  # (units, batch)
        s_a = tf.matmul(self.scale_tril(), a[None], transpose_a=True)  # (units, M, batch)
        variance = (kernel.apply(x, x) - tf.reduce_sum(tf.square(a), axis=0)
                    + tf.reduce_sum(tf.square(s_a), axis=1))
        return tf.transpose(mean), tf.transpose(tf.maximum(variance, MIN_VARIANCE))

    def kl_divergence(self):
        """KL(q(v) ‖ N(0, I)) summed over the latent functions (= KL(q(u) ‖ p(u)), whitened)."""
        loc = tf.cast(self.variational_loc, tf.float64)
        posterior = tfd.MultivariateNormalTriL(loc=loc, scale_tril=self.scale_tril())
        prior = tfd.MultivariateNormalDiag(loc=tf.zeros_like(loc))
        return tf.reduce_sum(tfd.kl_divergence(posterior, prior))

    def call(self, inputs):
        mean, variance = self.moments(inputs)
        self.add_loss(tf.cast(self.kl_weight, tf.float32) * tf.cast(self.kl_divergence(), tf.float32))
        return tf.cast(tf.concat([mean, variance], axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_inducing": self.num_inducing,
                "kernel": self.kernel_name, "amplitude": self.amplitude_init,
                "length_scale": self.length_scale_init, "num_train_examples": self.num_train_examples,
                "kl_weight": self.kl_weight_init, "jitter": self.jitter, "seed": self.seed}


@keras.saving.register_keras_serializable(package="zoo")
class GaussianLikelihood(keras.layers.Layer):
    """Gaussian observation noise on a `SparseVariationalGP(units=1)`: [mean, variance] of the
    latent f become the predictive [mean, std] of a target, std = √(variance + noise).

    In training it outputs [mean, noise std] instead and adds mean(variance) / (2·noise) with
    `add_loss`: with `MeanStdNLL` on that output the loss is exactly the negative expected
    log-likelihood E_q[-log N(y | f, noise)] per example, the ELBO's data term in closed form.
    """

    def __init__(self, noise_variance: float = 0.1, min_noise_variance: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        if not min_noise_variance > 0 or not noise_variance > min_noise_variance:
            raise ValueError(f"`noise_variance` must be > min_noise_variance > 0. Received: "
                             f"noise_variance={noise_variance!r}, min_noise_variance={min_noise_variance!r}")
        self.noise_variance_init = float(noise_variance)
        self.min_noise_variance = float(min_noise_variance)

    def build(self, input_shape):
        self.raw_noise_variance = self.add_weight(
            name="raw_noise_variance", shape=(),
            initializer=keras.initializers.Constant(softplus_inverse(self.noise_variance_init - self.min_noise_variance)))

    @property
    def noise_variance(self):
        return tf.nn.softplus(self.raw_noise_variance) + self.min_noise_variance

    def call(self, inputs, training=None):
        mean, variance = tf.split(inputs, 2, axis=-1)
        noise = tf.cast(self.noise_variance, inputs.dtype)
        if training:
            self.add_loss(tf.cast(tf.reduce_mean(variance) / (2 * noise), tf.float32))
            return tf.concat([mean, tf.sqrt(noise) * tf.ones_like(mean)], axis=-1)
        return tf.concat([mean, tf.sqrt(variance + noise)], axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "noise_variance": self.noise_variance_init,
                "min_noise_variance": self.min_noise_variance}


@keras.saving.register_keras_serializable(package="zoo")
class MeanStdNLL(keras.losses.Loss):
    """-log N(y | mean, std) per example, for outputs [means, stds] (the `mean_std` head)."""

    def __init__(self, name: str = "mean_std_nll", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        mean, std = tf.split(y_pred, 2, axis=-1)
        y = tf.reshape(tf.cast(y_true, y_pred.dtype), tf.shape(mean))
        return tf.reduce_sum(0.5 * math.log(2 * math.pi) + tf.math.log(std)
                             + 0.5 * tf.square((y - mean) / std), axis=-1)


@keras.saving.register_keras_serializable(package="zoo")
class VariationalClassificationNLL(keras.losses.Loss):
    """-E_q(f)[log p(y | f)] per example from [means, variances] of q(f) (the `gp_latent` and
    `gp_robustmax` heads). One latent: Bernoulli, by Gauss-Hermite quadrature with
    `quadrature_points` nodes. One latent per class: `likelihood="softmax"` by Monte Carlo with
    `samples` fresh draws per step, or `"robustmax"` (Hensman et al. 2015) exactly, since its
    log-likelihood is log(1 - ε) where y is the argmax of f and log(ε / (classes - 1)) elsewhere,
    so the expectation needs only P(y = argmax f), by quadrature. Labels are class indices.

    Example:
        >>> loss = VariationalClassificationNLL(likelihood="robustmax")
        >>> float(loss([0], [[3.0, 0.0, 0.0, 1e-4, 1e-4, 1e-4]]))  # y is surely the argmax: -log(1 - ε)
        0.0010005...
    """

    def __init__(self, quadrature_points: int = heads.QUADRATURE_POINTS, samples: int = 16,
                 likelihood: str = "softmax", name: str = "variational_nll", **kwargs):
        super().__init__(name=name, **kwargs)
        if likelihood not in ("softmax", "robustmax"):
            raise ValueError("`likelihood` (for one latent per class) must be 'softmax' or 'robustmax'. "
                             f"Received: likelihood={likelihood!r}")
        self.quadrature_points = int(quadrature_points)
        self.samples = int(samples)
        self.likelihood = likelihood

    def call(self, y_true, y_pred):
        mean, variance = tf.split(tf.cast(y_pred, tf.float32), 2, axis=-1)
        labels = tf.reshape(tf.cast(y_true, tf.int32), [-1])
        classes = mean.shape[-1]
        if classes == 1:
            nodes, weights = heads.gauss_hermite(self.quadrature_points)
            sign = tf.cast(2 * labels - 1, tf.float32)[:, None]
            f = mean + tf.sqrt(2 * variance) * nodes  # (batch, nodes)
            return -tf.reduce_sum(weights * tf.math.log_sigmoid(sign * f), axis=-1)
        if self.likelihood == "robustmax":
            argmax = tf.reduce_sum(heads.robustmax_argmax_probabilities(mean, variance, self.quadrature_points)
                                   * tf.one_hot(labels, classes), axis=-1)
            epsilon = heads.ROBUSTMAX_EPSILON
            return -(argmax * math.log(1 - epsilon) + (1 - argmax) * math.log(epsilon / (classes - 1)))
        eps = tf.random.normal(tf.concat([[self.samples], tf.shape(mean)], 0))
        log_probabilities = tf.nn.log_softmax(mean + tf.sqrt(variance) * eps, axis=-1)  # (S, batch, classes)
        picked = tf.reduce_sum(log_probabilities * tf.one_hot(labels, classes), axis=-1)
        return -tf.reduce_mean(picked, axis=0)

    def get_config(self):
        return {**super().get_config(), "quadrature_points": self.quadrature_points, "samples": self.samples,
                "likelihood": self.likelihood}


@keras.saving.register_keras_serializable(package="zoo")
class PredictiveAccuracy(keras.metrics.Mean):
    """Accuracy of the class with the highest predictive probability under `head`'s outputs."""

    def __init__(self, head: str = "gp_latent", name: str = "accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.head = head

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = tf.argmax(heads.get(self.head).probabilities(tf.cast(y_pred, tf.float32)), axis=-1)
        correct = tf.cast(predicted == tf.reshape(tf.cast(y_true, predicted.dtype), [-1]), tf.float32)
        return super().update_state(correct, sample_weight)

    def get_config(self):
        return {"head": self.head, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="zoo")
class MeanRootMeanSquaredError(keras.metrics.RootMeanSquaredError):
    """RMSE of the means of [means, stds] outputs."""

    def __init__(self, name: str = "rmse", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        mean = tf.split(y_pred, 2, axis=-1)[0]
        return super().update_state(tf.reshape(tf.cast(y_true, mean.dtype), tf.shape(mean)), mean, sample_weight)


# -- data-dependent initialisation ---------------------------------------------------------
def sparse_gp_layers(model) -> list[SparseVariationalGP]:
    """The `SparseVariationalGP` layers of a model, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, SparseVariationalGP):
            found.append(layer)
        elif hasattr(layer, "layers"):
            found += sparse_gp_layers(layer)
    return found


def initialize_inducing_points(model, x, *, seed: int = 0, max_examples: int = 4096) -> None:
    """Puts each `SparseVariationalGP` layer's inducing inputs on a spread-out subset of what
    the layer sees for inputs `x` (k-means++ seeding), and, where the layer's length scale was
    left to the default, every length scale at the median distance between those points.

    `x`: an array of model inputs, or a dataset of (x, y) batches; at most `max_examples` are
    read. Call it once before `fit` (on a new model: it overwrites the inducing inputs).

    Example:
        >>> model = zoo.build("gp_classifier", input_shape=(4,), num_classes=3)  # doctest: +SKIP
        >>> initialize_inducing_points(model, x_train)  # doctest: +SKIP
        >>> model.fit(x_train, y_train, epochs=100)  # doctest: +SKIP
    """
    inputs = _gather_inputs(x, max_examples)
    rng = np.random.default_rng(seed)
    for layer in sparse_gp_layers(model):
        if layer.input is model.input:
            features = inputs
        else:
            features = keras.Model(model.input, layer.input).predict(inputs, batch_size=512, verbose=0)
        features = np.asarray(keras.ops.convert_to_numpy(features), np.float64).reshape(len(inputs), -1)
        chosen = kmeans_plus_plus(features, layer.num_inducing, rng)
        layer.inducing_points.assign(chosen.astype("float32"))
        if layer.length_scale_init is None:
            distances = np.sqrt(((chosen[:, None] - chosen[None]) ** 2).sum(-1))[np.triu_indices(len(chosen), 1)]
            median = float(np.median(distances[distances > 0])) if np.any(distances > 0) else 1.0
            layer.raw_length_scales.assign(np.full(layer.raw_length_scales.shape, softplus_inverse(median), "float32"))


def kmeans_plus_plus(points: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` rows of `points` chosen by k-means++ seeding (each next one with probability
    proportional to its squared distance from those chosen); with fewer distinct points than
    `count`, the rest are copies with a little noise."""
    first = rng.integers(len(points))
    chosen = [first]
    nearest = ((points - points[first]) ** 2).sum(-1)
    while len(chosen) < min(count, len(points)):
        total = nearest.sum()
        if total <= 0:
            break
        index = rng.choice(len(points), p=nearest / total)
        chosen.append(index)
        nearest = np.minimum(nearest, ((points - points[index]) ** 2).sum(-1))
    result = points[chosen]
    if len(result) < count:
        extra = result[rng.integers(len(result), size=count - len(result))]
        spread = points.std(axis=0) + 1e-3
        result = np.concatenate([result, extra + 0.01 * spread * rng.standard_normal(extra.shape)])
    return result


def _gather_inputs(x, max_examples: int) -> np.ndarray:
    if isinstance(x, tf.data.Dataset):
        parts, seen = [], 0
        for batch in x:
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            parts.append(np.asarray(inputs))
            seen += len(parts[-1])
            if seen >= max_examples:
                break
        if not parts:
            raise ValueError("The dataset is empty: inducing points need some training inputs.")
        return np.concatenate(parts)[:max_examples]
    return np.asarray(x)[:max_examples]
