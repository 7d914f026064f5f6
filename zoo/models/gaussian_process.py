"""`GaussianProcessRegressor`: exact Gaussian-process regression as a Keras 3 model, maths by TFP.

The prior is a zero-mean GP with an ARD squared-exponential kernel,
k(x, x') = amplitude² · exp(-½ Σ_j ((x_j - x'_j) / length_scale_j)²)
(TFP's `ExponentiatedQuadratic` inside `FeatureScaled`), plus Normal observation noise. The
amplitude, one length scale per feature and the noise variance are trainable (softplus of an
unconstrained variable). `fit` maximises the exact log marginal likelihood of the training
data (`tfd.GaussianProcess(...).log_prob`); prediction conditions on the training data with
`tfd.GaussianProcessRegressionModel` and returns, per input, the predictive mean and std of a
*target* (latent function variance plus the observation noise), so mean ± 1.96·std is a 95%
interval for a new observation.

An exact GP keeps its training data: they are non-trainable variables of shape
(`num_train_examples`, features), saved with the model and in its SavedModel export, so
`num_train_examples` must equal the size of the training set. Inputs and targets are
standardised with the training data's mean and std inside the model, so the default
hyperparameters suit any scale and users pass raw values; the hyperparameters are reported in
standardised units. Cost: O(n³) time and O(n²) memory in the number of training examples
(a few thousand at most on a laptop); `MAX_TRAIN_EXAMPLES` guards against mistakes.

Example:
    >>> model = zoo.build("gp_regressor", input_shape=(3,), num_train_examples=len(x))  # doctest: +SKIP
    >>> model.fit(x, y, epochs=200, verbose=0)  # doctest: +SKIP
    >>> mean, std = model.predict(x_test).T  # doctest: +SKIP
"""

from __future__ import annotations


import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.layers.variational import softplus_inverse

tfd = tfp.distributions
psd_kernels = tfp.math.psd_kernels

MAX_TRAIN_EXAMPLES = 20_000  # 20k² float64 kernel matrix = 3.2 GB; Cholesky minutes on CPU


@keras.saving.register_keras_serializable(package="zoo")
class GaussianProcessRegressor(keras.Model):
    """Exact GP regression (see the module docstring): outputs [mean, std] per input.

    Args:
        num_features: input features (the input is a vector).
        num_train_examples: size of the training set it conditions on.
        amplitude, length_scale, noise_variance: initial hyperparameters, in standardised
            units (targets and inputs have std 1).
        min_noise_variance: a floor on the noise variance, for a well-conditioned Cholesky.
        jitter: added to the kernel diagonal by TFP, for the same reason.
    """

    # What `fit` minimises, for plots and logs: "loss" alone would not say.
    loss_description = "negative log marginal likelihood per example"

    def __init__(self, num_features: int = 3, num_train_examples: int = 256, amplitude: float = 1.0,
                 length_scale: float = 1.0, noise_variance: float = 0.1,
                 min_noise_variance: float = 1e-4, jitter: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        checks = [("num_features", num_features, isinstance(num_features, int) and num_features >= 1,
                   "an integer >= 1"),
                  ("num_train_examples", num_train_examples, isinstance(num_train_examples, int)
                   and 1 <= num_train_examples <= MAX_TRAIN_EXAMPLES,
                   f"an integer in [1, {MAX_TRAIN_EXAMPLES}] (exact GP regression is O(n³))"),
                  ("amplitude", amplitude, amplitude > 0, "a number > 0"),
                  ("length_scale", length_scale, length_scale > 0, "a number > 0"),
                  ("min_noise_variance", min_noise_variance, min_noise_variance > 0, "a number > 0"),
                  ("noise_variance", noise_variance, noise_variance > min_noise_variance,
                   f"a number > min_noise_variance ({min_noise_variance})"),
                  ("jitter", jitter, jitter >= 0, "a number >= 0")]
        for name, value, ok, expected in checks:
            if not ok:
                raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")
        self.num_features = num_features
        self.num_train_examples = num_train_examples
        self.initial = {"amplitude": float(amplitude), "length_scale": float(length_scale),
                        "noise_variance": float(noise_variance)}
        self.min_noise_variance = float(min_noise_variance)
        self.jitter = float(jitter)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.rmse_tracker = keras.metrics.RootMeanSquaredError(name="rmse")
        self.build((None, num_features))
        # One symbolic call (no computation) records the input signature, so a model that
        # was built but never called can be exported like a functional one.
        self(keras.KerasTensor((None, num_features)))

    def build(self, input_shape):
        if self.built:
            return
        n, d = self.num_train_examples, self.num_features

        def constant(value):
            return keras.initializers.Constant(value)

        self.raw_amplitude = self.add_weight(
            name="raw_amplitude", shape=(), initializer=constant(softplus_inverse(self.initial["amplitude"])))
        self.raw_length_scales = self.add_weight(
            name="raw_length_scales", shape=(d,),
            initializer=constant(softplus_inverse(self.initial["length_scale"])))
        self.raw_noise_variance = self.add_weight(
            name="raw_noise_variance", shape=(),
            initializer=constant(softplus_inverse(self.initial["noise_variance"] - self.min_noise_variance)))
        # The data it conditions on, and the standardisation, set by `fit`.
        fixed = dict(trainable=False)
        self.train_inputs = self.add_weight(name="train_inputs", shape=(n, d), initializer="zeros", **fixed)
        self.train_targets = self.add_weight(name="train_targets", shape=(n,), initializer="zeros", **fixed)
        self.input_mean = self.add_weight(name="input_mean", shape=(d,), initializer="zeros", **fixed)
        self.input_std = self.add_weight(name="input_std", shape=(d,), initializer="ones", **fixed)
        self.target_mean = self.add_weight(name="target_mean", shape=(), initializer="zeros", **fixed)
        self.target_std = self.add_weight(name="target_std", shape=(), initializer="ones", **fixed)
        self.built = True

    # -- the GP ------------------------------------------------------------------------------
    def _hyperparameters(self):
        amplitude = tf.nn.softplus(tf.cast(self.raw_amplitude, tf.float64))
        length_scales = tf.nn.softplus(tf.cast(self.raw_length_scales, tf.float64))
        noise = tf.nn.softplus(tf.cast(self.raw_noise_variance, tf.float64)) + self.min_noise_variance
        return amplitude, length_scales, noise

    def kernel(self) -> psd_kernels.PositiveSemidefiniteKernel:
        """The ARD kernel with the current hyperparameters (float64, standardised inputs)."""
        amplitude, length_scales, _ = self._hyperparameters()
        return psd_kernels.FeatureScaled(
            psd_kernels.ExponentiatedQuadratic(amplitude=amplitude, length_scale=tf.constant(1.0, tf.float64)),
            scale_diag=length_scales)

    def _cholesky(self, matrix):
        # TFP's `jitter` argument is deprecated in favour of a Cholesky function.
        return tf.linalg.cholesky(tf.linalg.set_diag(matrix, tf.linalg.diag_part(matrix) + self.jitter))

    def _standardize(self, x):
        x = tf.cast(x, tf.float64)
        return (x - tf.cast(self.input_mean, tf.float64)) / tf.cast(self.input_std, tf.float64)

    def negative_log_marginal_likelihood(self, x, y):
        """-log p(y | x, hyperparameters) per example, under the GP prior (standardised units)."""
        y = tf.reshape(tf.cast(y, tf.float64), [-1])
        y = (y - tf.cast(self.target_mean, tf.float64)) / tf.cast(self.target_std, tf.float64)
        _, _, noise = self._hyperparameters()
        prior = tfd.GaussianProcess(self.kernel(), index_points=self._standardize(x),
                                    observation_noise_variance=noise, cholesky_fn=self._cholesky)
        return -prior.log_prob(y) / tf.cast(tf.size(y), tf.float64)

    def predictive(self, x) -> tfd.GaussianProcessRegressionModel:
        """TFP's posterior predictive at inputs `x` (standardised units), conditioned on the
        training data; its marginals include the observation noise."""
        _, _, noise = self._hyperparameters()
        return tfd.GaussianProcessRegressionModel(
            self.kernel(), index_points=self._standardize(x),
            observation_index_points=self._standardize(self.train_inputs),
            observations=(tf.cast(self.train_targets, tf.float64) - tf.cast(self.target_mean, tf.float64))
            / tf.cast(self.target_std, tf.float64),
            observation_noise_variance=noise, predictive_noise_variance=noise,
            cholesky_fn=self._cholesky)

    def call(self, inputs, training=None):
        predictive = self.predictive(inputs)
        scale = tf.cast(self.target_std, tf.float64)
        mean = predictive.mean() * scale + tf.cast(self.target_mean, tf.float64)
        std = predictive.stddev() * scale
        return tf.cast(tf.stack([mean, std], axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2)

    @property
    def output_shape(self):
        return (None, 2)

    # -- training ----------------------------------------------------------------------------
    @property
    def metrics(self):
        return [self.loss_tracker, self.rmse_tracker]

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            loss = self.negative_log_marginal_likelihood(x, y)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        """The loss is the predictive negative log-likelihood per example (target units)."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        outputs = tf.cast(self(x, training=False), tf.float64)
        y = tf.reshape(tf.cast(y, tf.float64), [-1])
        nll = -tfd.Normal(outputs[:, 0], outputs[:, 1]).log_prob(y)
        self.loss_tracker.update_state(nll)
        self.rmse_tracker.update_state(y, outputs[:, 0])
        return {metric.name: metric.result() for metric in self.metrics}

    def fit(self, x=None, y=None, **kwargs):
        """Conditions on all of (x, y) and maximises their marginal likelihood.

        Takes arrays or a `tf.data.Dataset` of (x, y) batches like `keras.Model.fit`, but an
        exact GP needs every training example in every step: the data are gathered into one
        batch (`batch_size` is ignored) and each epoch is one optimiser step.
        """
        if kwargs.get("validation_split"):
            raise ValueError("`validation_split` would hold out part of the data the GP conditions on; "
                             "pass `validation_data` instead.")
        if self.distribute_strategy.num_replicas_in_sync > 1:
            raise ValueError("Exact GP regression trains on one device: its marginal likelihood does "
                             "not split across replicas. Use the default strategy (--strategy default).")
        inputs, targets = _gather(x, y)
        if inputs.ndim != 2 or inputs.shape[1] != self.num_features:
            raise ValueError(f"Expected inputs of shape (n, {self.num_features}). Received: {inputs.shape}")
        if len(inputs) != self.num_train_examples or len(targets) != len(inputs):
            raise ValueError(
                f"This GP was built for num_train_examples={self.num_train_examples} and conditions on "
                f"exactly that many; received {len(inputs)} inputs and {len(targets)} targets. Build it "
                f"with num_train_examples={len(inputs)}.")
        if not (np.isfinite(inputs).all() and np.isfinite(targets).all()):
            raise ValueError("The training data contain NaN or Inf values; an exact GP needs finite data.")
        self.set_training_data(inputs, targets)
        kwargs.pop("batch_size", None)
        kwargs["shuffle"] = False
        self.steps_per_execution = 1  # one step per epoch
        return super().fit(inputs, targets, batch_size=len(inputs), **kwargs)

    def set_training_data(self, inputs, targets) -> None:
        """Stores the data to condition on and their standardisation (no training)."""
        inputs = np.asarray(inputs, np.float64)
        targets = np.asarray(targets, np.float64).reshape(-1)
        std = inputs.std(axis=0)
        self.train_inputs.assign(inputs.astype("float32"))
        self.train_targets.assign(targets.astype("float32"))
        self.input_mean.assign(inputs.mean(axis=0).astype("float32"))
        self.input_std.assign(np.where(std > 0, std, 1.0).astype("float32"))  # constant features: 1
        self.target_mean.assign(np.float32(targets.mean()))
        self.target_std.assign(np.float32(targets.std() if targets.std() > 0 else 1.0))

    # -- reading the fit ---------------------------------------------------------------------
    @property
    def amplitude(self) -> float:
        return float(self._hyperparameters()[0])

    @property
    def length_scales(self) -> np.ndarray:
        """One per feature, in units of that feature's training std: short = relevant."""
        return self._hyperparameters()[1].numpy()

    @property
    def observation_noise_variance(self) -> float:
        return float(self._hyperparameters()[2])

    def get_config(self):
        return {**super().get_config(), "num_features": self.num_features,
                "num_train_examples": self.num_train_examples, **self.initial,
                "min_noise_variance": self.min_noise_variance, "jitter": self.jitter}


def _gather(x, y) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) as arrays, from arrays or a finite dataset of (x, y) batches."""
    if isinstance(x, tf.data.Dataset):
        if y is not None:
            raise ValueError("Pass either a dataset of (x, y) or arrays x and y, not a dataset and y.")
        if x.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ValueError("The dataset is infinite; an exact GP needs the whole (finite) training set.")
        parts = [(np.asarray(a), np.asarray(b)) for a, b, *_ in x.as_numpy_iterator()]
        if not parts:
            raise ValueError("The dataset is empty.")
        return np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts]).reshape(-1)
    if x is None or y is None:
        raise ValueError("`fit` needs inputs x and targets y.")
    return np.asarray(x), np.asarray(y).reshape(-1)
