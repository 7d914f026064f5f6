"""Bayesian (variational) layers for Keras 3 whose probability maths comes from TFP.

`tfp.layers` are Keras 2 (`tf_keras`) layers that cannot be used in Keras 3 models, and TFP
will not move to Keras 3. These layers are Keras 3 layers that use `tfp.distributions` for
the posterior, the prior and their KL divergence, and `tfp.random.rademacher` for Flipout's
signs. They need the TensorFlow backend (TFP runs on TensorFlow).

Each layer keeps a mean-field Normal posterior over its kernel, q(w) = N(loc, softplus(rho)),
initialised with a small std (`posterior_std_init`), and a N(0, `prior_std`) prior. The bias
is a point estimate unless `bayesian_bias=True`. Every call samples weights (training and
prediction alike: that is what makes Monte Carlo predictions possible) and adds
`kl_weight * KL(q || prior)` with `add_loss`; `kl_weight` defaults to 1 / `num_train_examples`
so that the summed loss is the negative ELBO per example. Under a `tf.distribute` strategy,
Keras divides added losses by the number of replicas, so the KL counts once per global step.

- `*Reparameterization`: one weight sample per call, w = loc + std * eps (Kingma & Welling).
- `*Flipout`: in training, one perturbation per call, decorrelated per example by ±1 signs on
  inputs and outputs (Wen et al. 2018), which gives lower-variance gradients. At prediction
  (`training` false) one weight sample per call, as `*Reparameterization`: each example's
  output has the same distribution (the perturbation is symmetric, so the signs do not change
  it), for one convolution or matmul instead of Flipout's two plus its signs: 32 samples of
  `bayesian_lenet` took 0.166 s instead of 0.380 s (`benchmarks/mc_prediction.py`). The
  examples of one call then share a draw; `predict_with_uncertainty` makes every sample a
  call of its own.
- `LSTMFlipout`: Flipout on an LSTM's input and recurrent kernels, the signs drawn once per
  sequence, so each sequence runs with one weight sample at every time step.

Noise comes from stateless random ops keyed by a Keras `SeedGenerator` and the replica id, so
replicas under MirroredStrategy draw different noise (Keras' own seeded ops draw the same
numbers on every replica).

Example:
    >>> layer = DenseFlipout(10, num_train_examples=60000)  # doctest: +SKIP
    >>> layer(np.ones((4, 3), "float32")).shape, len(layer.losses)  # doctest: +SKIP
    (TensorShape([4, 10]), 1)
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import heads

tfd = tfp.distributions


def softplus_inverse(value: float) -> float:
    """The raw parameter whose softplus is `value` (> 0): initial values of positive parameters."""
    return math.log(math.expm1(value))


class _Variational(keras.layers.Layer):
    """Posterior/prior bookkeeping, KL and noise shared by the variational layers."""

    def __init__(self, *, activation=None, prior_std: float = 1.0, posterior_std_init: float = 1e-3,
                 bayesian_bias: bool = False, num_train_examples: int | None = None,
                 kl_weight: float | None = None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        checks = [("prior_std", prior_std, prior_std > 0, "a number > 0"),
                  ("posterior_std_init", posterior_std_init, posterior_std_init > 0, "a number > 0"),
                  ("num_train_examples", num_train_examples,
                   num_train_examples is None or (isinstance(num_train_examples, int) and num_train_examples >= 1),
                   "an integer >= 1 or None"),
                  ("kl_weight", kl_weight, kl_weight is None or kl_weight >= 0, "a number >= 0 or None")]
        for name, value, ok, expected in checks:
            if not ok:
                raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")
        self.activation = keras.activations.get(activation)
        self.prior_std = float(prior_std)
        self.posterior_std_init = float(posterior_std_init)
        self.bayesian_bias = bool(bayesian_bias)
        self.num_train_examples = num_train_examples
        self.initial_kl_weight = float(kl_weight if kl_weight is not None else 1.0 / (num_train_examples or 1))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    # -- weights ----------------------------------------------------------------------------
    def _add_posterior(self, name: str, shape, loc_initializer) -> None:
        rho = keras.initializers.Constant(softplus_inverse(self.posterior_std_init))
        setattr(self, f"{name}_loc", self.add_weight(name=f"{name}_loc", shape=shape, initializer=loc_initializer))
        setattr(self, f"{name}_rho", self.add_weight(name=f"{name}_rho", shape=shape, initializer=rho))

    def _build_common(self, kernel_shape, bias_shape, fan_in: int) -> None:
        self._add_posterior("kernel", kernel_shape, keras.initializers.HeNormal() if fan_in else "zeros")
        if self.bayesian_bias:
            self._add_posterior("bias", bias_shape, "zeros")
        else:
            self.bias = self.add_weight(name="bias", shape=bias_shape, initializer="zeros")
        # A variable, so a warm-up callback can change it during training.
        self.kl_weight = self.add_weight(name="kl_weight", shape=(), trainable=False,
                                         initializer=keras.initializers.Constant(self.initial_kl_weight))

    def posterior(self, name: str = "kernel") -> tfd.Normal:
        """q(w) for `kernel` (or `bias` when it is Bayesian), as a TFP distribution."""
        return tfd.Normal(loc=getattr(self, f"{name}_loc"),
                          scale=tf.nn.softplus(getattr(self, f"{name}_rho")))

    def prior(self, like) -> tfd.Normal:
        return tfd.Normal(loc=tf.zeros_like(like), scale=tf.cast(self.prior_std, like.dtype))

    def kl_divergence(self):
        """KL(q || prior) summed over the Bayesian weights (without `kl_weight`)."""
        names = ["kernel", "bias"] if self.bayesian_bias else ["kernel"]
        return tf.add_n([tf.reduce_sum(tfd.kl_divergence(self.posterior(n), self.prior(getattr(self, f"{n}_loc"))))
                         for n in names])

    # -- noise -------------------------------------------------------------------------------
    def _seed(self, salt: int):
        """A stateless seed, new on every call, different on every replica."""
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group if context is not None else 0
        seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(replica, tf.int32))
        return tf.random.experimental.stateless_fold_in(seed, salt)

    def _sample(self, name: str, salt: int):
        loc = getattr(self, f"{name}_loc")
        eps = tf.random.stateless_normal(tf.shape(loc), seed=self._seed(salt), dtype=loc.dtype)
        return loc + tf.nn.softplus(getattr(self, f"{name}_rho")) * eps

    def _bias(self):
        return self._sample("bias", 1) if self.bayesian_bias else self.bias

    def _finish(self, outputs):
        self.add_loss(tf.cast(self.kl_weight, tf.float32) * tf.cast(self.kl_divergence(), tf.float32))
        outputs = outputs + self._bias()
        return self.activation(outputs) if self.activation is not None else outputs

    # The seed generator's state is saved with the weights, so a loaded model continues the
    # same noise sequence (Keras saves only a layer's own weights by default).
    def save_own_variables(self, store):
        for i, variable in enumerate(self.weights):
            store[str(i)] = keras.ops.convert_to_numpy(variable)
        store["seed_generator_state"] = keras.ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        for i, variable in enumerate(self.weights):
            variable.assign(store[str(i)])
        try:
            state = store["seed_generator_state"]
        except KeyError:
            return
        self.seed_generator.state.assign(state)

    def get_config(self):
        config = super().get_config()
        config.update({
            "activation": keras.activations.serialize(self.activation) if self.activation else None,
            "prior_std": self.prior_std, "posterior_std_init": self.posterior_std_init,
            "bayesian_bias": self.bayesian_bias, "num_train_examples": self.num_train_examples,
            "kl_weight": self.initial_kl_weight, "seed": self.seed,
        })
        return config


class _Dense(_Variational):
    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"`units` must be a positive integer. Received: units={units!r}")
        self.units = units

    def build(self, input_shape):
        self._build_common((input_shape[-1], self.units), (self.units,), input_shape[-1])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="zoo")
class DenseReparameterization(_Dense):
    """Dense layer with a Normal posterior over its kernel; one weight sample per call.

    Args:
        units: output size. activation: a Keras activation name or None.
        prior_std: std of the N(0, prior_std) prior. posterior_std_init: initial posterior std.
        bayesian_bias: also a Normal posterior over the bias. num_train_examples: sets the
        default kl_weight = 1 / num_train_examples. kl_weight: overrides it. seed: noise seed.

    Example:
        >>> DenseReparameterization(3, num_train_examples=100)(np.ones((2, 4), "float32")).shape  # doctest: +SKIP
        TensorShape([2, 3])
    """

    def call(self, inputs):
        return self._finish(tf.matmul(inputs, self._sample("kernel", 0)))


@keras.saving.register_keras_serializable(package="zoo")
class DenseFlipout(_Dense):
    """Dense layer with a Normal posterior over its kernel, sampled with Flipout in training
    and by one weight sample per call at prediction (see the module's docstring).

    Same arguments as `DenseReparameterization`.

    Example:
        >>> DenseFlipout(3, num_train_examples=100)(np.ones((2, 4), "float32")).shape  # doctest: +SKIP
        TensorShape([2, 3])
    """

    def call(self, inputs, training=None):
        if not training:  # one weight sample: the same distribution per example, half the work
            return self._finish(tf.matmul(inputs, self._sample("kernel", 0)))
        loc, std = self.kernel_loc, tf.nn.softplus(self.kernel_rho)
        eps = tf.random.stateless_normal(tf.shape(loc), seed=self._seed(0), dtype=loc.dtype)
        shape_in = tf.shape(inputs)
        sign_in = tfp.random.rademacher(shape_in, dtype=inputs.dtype, seed=self._seed(2))
        sign_out = tfp.random.rademacher(tf.concat([shape_in[:-1], [self.units]], 0),
                                         dtype=inputs.dtype, seed=self._seed(3))
        perturbation = tf.matmul(inputs * sign_in, std * eps) * sign_out
        return self._finish(tf.matmul(inputs, loc) + perturbation)


class _Conv2D(_Variational):
    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"`filters` must be a positive integer. Received: filters={filters!r}")
        if padding not in ("valid", "same"):
            raise ValueError(f"`padding` must be 'valid' or 'same'. Received: padding={padding!r}")
        self.filters = filters
        self.kernel_size = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * 2
        self.strides = tuple(strides) if isinstance(strides, (tuple, list)) else (strides,) * 2
        self.padding = padding

    def build(self, input_shape):
        channels = input_shape[-1]
        self._build_common((*self.kernel_size, channels, self.filters), (self.filters,),
                           channels * self.kernel_size[0] * self.kernel_size[1])

    def _conv(self, inputs, kernel):
        return tf.nn.conv2d(inputs, kernel, strides=(1, *self.strides, 1), padding=self.padding.upper())

    def compute_output_shape(self, input_shape):
        return keras.layers.Conv2D(self.filters, self.kernel_size, strides=self.strides,
                                   padding=self.padding).compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding}


@keras.saving.register_keras_serializable(package="zoo")
class Conv2DReparameterization(_Conv2D):
    """2-D convolution (channels last) with a Normal posterior over its kernel.

    Args: `filters`, `kernel_size`, `strides`, `padding` as `keras.layers.Conv2D`, and the
    arguments of `DenseReparameterization`.

    Example:
        >>> Conv2DReparameterization(4, 3)(np.ones((2, 8, 8, 1), "float32")).shape  # doctest: +SKIP
        TensorShape([2, 6, 6, 4])
    """

    def call(self, inputs):
        return self._finish(self._conv(inputs, self._sample("kernel", 0)))


@keras.saving.register_keras_serializable(package="zoo")
class Conv2DFlipout(_Conv2D):
    """2-D convolution with a Normal posterior over its kernel, sampled with Flipout in
    training and by one weight sample per call at prediction (see the module's docstring).

    Example:
        >>> Conv2DFlipout(4, 3)(np.ones((2, 8, 8, 1), "float32")).shape  # doctest: +SKIP
        TensorShape([2, 6, 6, 4])
    """

    def call(self, inputs, training=None):
        if not training:  # one weight sample: the same distribution per example, half the work
            return self._finish(self._conv(inputs, self._sample("kernel", 0)))
        loc, std = self.kernel_loc, tf.nn.softplus(self.kernel_rho)
        eps = tf.random.stateless_normal(tf.shape(loc), seed=self._seed(0), dtype=loc.dtype)
        outputs = self._conv(inputs, loc)
        batch = tf.shape(inputs)[0]
        sign_in = tfp.random.rademacher(tf.stack([batch, 1, 1, tf.shape(inputs)[-1]]),
                                        dtype=inputs.dtype, seed=self._seed(2))
        sign_out = tfp.random.rademacher(tf.stack([batch, 1, 1, self.filters]),
                                         dtype=inputs.dtype, seed=self._seed(3))
        perturbation = self._conv(inputs * sign_in, std * eps) * sign_out
        return self._finish(outputs + perturbation)


@keras.saving.register_keras_serializable(package="zoo")
class LSTMFlipout(_Variational):
    """An LSTM whose input and recurrent kernels have mean-field Normal posteriors, sampled with
    Flipout: one perturbation of each kernel per call, decorrelated per sequence by ±1 signs
    that stay the same at every time step (as Edward2's `LSTMCellFlipout`), so each sequence
    is run by one weight sample. The bias is a point estimate with the forget gate's at 1.

    Masked steps (a `Masking` layer, or an `Embedding` with `mask_zero=True`) leave the state
    unchanged, so padding never changes a prediction. Same arguments as `DenseFlipout` (no
    `bayesian_bias`), plus `units` and `return_sequences` as `keras.layers.LSTM`.

    Example:
        >>> LSTMFlipout(8, num_train_examples=100)(np.ones((2, 5, 3), "float32")).shape  # doctest: +SKIP
        TensorShape([2, 8])
    """

    def __init__(self, units: int, return_sequences: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"`units` must be a positive integer. Received: units={units!r}")
        if self.bayesian_bias:
            raise ValueError("LSTMFlipout keeps a point-estimate bias: pass bayesian_bias=False.")
        self.units = units
        self.return_sequences = bool(return_sequences)
        self.supports_masking = True

    def build(self, input_shape):
        features, gates = input_shape[-1], 4 * self.units
        self._add_posterior("kernel", (features, gates), keras.initializers.GlorotUniform())
        self._add_posterior("recurrent_kernel", (self.units, gates), keras.initializers.Orthogonal())
        forget = [0.0] * self.units + [1.0] * self.units + [0.0] * (2 * self.units)  # i, f, c, o
        self.bias = self.add_weight(name="bias", shape=(gates,), initializer=keras.initializers.Constant(forget))
        self.kl_weight = self.add_weight(name="kl_weight", shape=(), trainable=False,
                                         initializer=keras.initializers.Constant(self.initial_kl_weight))

    def kl_divergence(self):
        return tf.add_n([tf.reduce_sum(tfd.kl_divergence(self.posterior(n), self.prior(getattr(self, f"{n}_loc"))))
                         for n in ("kernel", "recurrent_kernel")])

    def _perturbation(self, name: str, batch, salt: int):
        """The kernel's loc, and a function adding its Flipout perturbation to inputs @ loc."""
        loc, std = getattr(self, f"{name}_loc"), tf.nn.softplus(getattr(self, f"{name}_rho"))
        delta = std * tf.random.stateless_normal(tf.shape(loc), seed=self._seed(salt), dtype=loc.dtype)
        sign_in = tfp.random.rademacher(tf.stack([batch, tf.shape(loc)[0]]), dtype=loc.dtype, seed=self._seed(salt + 1))
        sign_out = tfp.random.rademacher(tf.stack([batch, tf.shape(loc)[1]]), dtype=loc.dtype,
                                         seed=self._seed(salt + 2))
        return loc, delta, sign_in, sign_out

    def call(self, inputs, mask=None):
        inputs = tf.cast(inputs, self.kernel_loc.dtype)
        batch, steps = tf.shape(inputs)[0], tf.shape(inputs)[1]
        k_loc, k_delta, k_in, k_out = self._perturbation("kernel", batch, 0)
        r_loc, r_delta, r_in, r_out = self._perturbation("recurrent_kernel", batch, 3)
        # The input half of every step at once; the signs are per sequence, fixed over time.
        projected = (tf.einsum("btf,fg->btg", inputs, k_loc) + self.bias
                     + tf.einsum("btf,fg->btg", inputs * k_in[:, None], k_delta) * k_out[:, None])
        keep = tf.ones(tf.stack([batch, steps]), tf.bool) if mask is None else tf.cast(mask, tf.bool)
        zeros = tf.zeros(tf.stack([batch, self.units]), projected.dtype)

        def step(carry, elements):
            h, c, _ = carry
            z_x, kept = elements
            z = z_x + tf.matmul(h, r_loc) + tf.matmul(h * r_in, r_delta) * r_out
            i, f, g, o = tf.split(z, 4, axis=-1)
            c_new = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h_new = tf.sigmoid(o) * tf.tanh(c_new)
            kept = kept[:, None]
            h, c = tf.where(kept, h_new, h), tf.where(kept, c_new, c)
            return h, c, h

        _, _, outputs = tf.scan(step, (tf.transpose(projected, [1, 0, 2]), tf.transpose(keep)),
                                initializer=(zeros, zeros, zeros))
        self.add_loss(tf.cast(self.kl_weight, tf.float32) * tf.cast(self.kl_divergence(), tf.float32))
        return tf.transpose(outputs, [1, 0, 2]) if self.return_sequences else outputs[-1]

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.units) if self.return_sequences else (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "return_sequences": self.return_sequences}


class KLWarmUp(keras.callbacks.Callback):
    """Raises every variational layer's `kl_weight` linearly from 0 to its value over
    `epochs` epochs (KL annealing), so the data term shapes the weights first.

    Example:
        >>> model.fit(x, y, epochs=10, callbacks=[KLWarmUp(epochs=3)])  # doctest: +SKIP
    """

    def __init__(self, epochs: int = 5):
        super().__init__()
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"`epochs` must be a positive integer. Received: epochs={epochs!r}")
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        fraction = min(1.0, (epoch + 1) / self.epochs)
        for layer in variational_layers(self.model):
            layer.kl_weight.assign(layer.initial_kl_weight * fraction)


def variational_layers(model) -> list[_Variational]:
    """The variational layers of `model`, including those inside nested models."""
    found, stack = [], list(model.layers)
    while stack:
        layer = stack.pop(0)
        if isinstance(layer, _Variational):
            found.append(layer)
        stack.extend(getattr(layer, "layers", []))
    return found


@keras.saving.register_keras_serializable(package="zoo")
class GaussianNLL(keras.losses.Loss):
    """Negative log-likelihood of targets under Normal(mean, std) predicted per example.

    The model outputs `2k` values per example: k means, then k raw scales mapped to a std by
    softplus (plus `min_std`), so the model learns its own noise level (heteroscedastic).

    Example:
        >>> GaussianNLL()(np.zeros((2, 1)), np.zeros((2, 2)))  # doctest: +SKIP
    """

    def __init__(self, min_std: float = heads.MIN_STD, name: str = "gaussian_nll", **kwargs):
        super().__init__(name=name, **kwargs)
        self.min_std = float(min_std)

    def call(self, y_true, y_pred):
        return -tf.reduce_sum(normal_from_outputs(y_pred, self.min_std).log_prob(
            tf.cast(y_true, y_pred.dtype)), axis=-1)

    def get_config(self):
        return {**super().get_config(), "min_std": self.min_std}


@keras.saving.register_keras_serializable(package="zoo")
def gaussian_nll(y_true, y_pred):
    """`GaussianNLL` per example, as a function (for a metric beside the ELBO loss)."""
    return GaussianNLL().call(y_true, y_pred)


def normal_from_outputs(outputs, min_std: float = heads.MIN_STD) -> tfd.Normal:
    """The predictive Normal of a `normal` head's outputs, [means, raw scales] (`zoo.heads`)."""
    mean, std = heads.get("normal").mean_std(outputs, min_std)
    return tfd.Normal(loc=mean, scale=std)
