"""The TFP-backed variational layers: KL against the closed form, zero std = deterministic
layer, fresh noise per call, true ±1 Flipout signs, configs and saving round-trip."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras
from zoo.layers.variational import (Conv2DFlipout, Conv2DReparameterization, DenseFlipout,
                                    DenseReparameterization, KLWarmUp, variational_layers)

DENSE = [DenseReparameterization, DenseFlipout]
CONV = [Conv2DReparameterization, Conv2DFlipout]
ALL = DENSE + CONV


def _layer(cls, **kwargs):
    return cls(3, **kwargs) if cls in DENSE else cls(3, 3, **kwargs)


def _inputs(cls, batch=4):
    rng = np.random.default_rng(0)
    shape = (batch, 5) if cls in DENSE else (batch, 6, 6, 2)
    return rng.normal(size=shape).astype("float32")


def _gaussian_kl(loc, std, prior_std):
    """KL(N(loc, std^2) || N(0, prior_std^2)), summed, by the textbook formula (NumPy)."""
    return np.sum(np.log(prior_std / std) + (std ** 2 + loc ** 2) / (2 * prior_std ** 2) - 0.5)


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("bayesian_bias", [False, True])
def test_the_added_loss_is_kl_weight_times_the_closed_form_gaussian_kl(cls, bayesian_bias):
    layer = _layer(cls, prior_std=0.7, posterior_std_init=0.05, num_train_examples=250,
                   bayesian_bias=bayesian_bias, seed=1)
    layer(_inputs(cls))
    layer.kernel_loc.assign(np.random.default_rng(1).normal(size=layer.kernel_loc.shape).astype("float32"))
    layer.losses.clear() if isinstance(layer.losses, list) else None
    layer(_inputs(cls))
    expected = _gaussian_kl(layer.kernel_loc.numpy(), tf.nn.softplus(layer.kernel_rho).numpy(), 0.7)
    if bayesian_bias:
        expected += _gaussian_kl(layer.bias_loc.numpy(), tf.nn.softplus(layer.bias_rho).numpy(), 0.7)
    assert float(layer.losses[-1]) == pytest.approx(expected / 250, rel=1e-5)
    assert float(layer.kl_divergence()) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("cls", ALL)
def test_with_zero_posterior_std_the_layer_is_the_deterministic_layer_of_its_means(cls):
    layer = _layer(cls, activation="relu", seed=3)
    x = _inputs(cls)
    layer(x)
    layer.kernel_rho.assign(tf.fill(layer.kernel_rho.shape, -1e4))  # softplus(-1e4) == 0.0 exactly
    layer.bias.assign(np.linspace(-0.5, 0.5, 3).astype("float32"))
    if cls in DENSE:
        plain = keras.layers.Dense(3, activation="relu")
    else:
        plain = keras.layers.Conv2D(3, 3, activation="relu")
    plain.build(x.shape)
    plain.set_weights([layer.kernel_loc.numpy(), layer.bias.numpy()])
    np.testing.assert_allclose(layer(x).numpy(), plain(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", ALL)
def test_repeated_calls_draw_new_weights_and_a_seed_repeats_them(cls):
    x = _inputs(cls)
    first, second = _layer(cls, posterior_std_init=0.1, seed=5), _layer(cls, posterior_std_init=0.1, seed=5)
    a, b = first(x).numpy(), first(x).numpy()
    assert not np.allclose(a, b)
    second.build(x.shape)
    second.set_weights(first.get_weights())
    second.seed_generator.state.assign(keras.random.SeedGenerator(5).state)
    first.seed_generator.state.assign(keras.random.SeedGenerator(5).state)
    np.testing.assert_array_equal(first(x).numpy(), second(x).numpy())


def test_flipout_signs_are_true_plus_or_minus_ones_per_example():
    # One input, one unit, zero mean weight and bias: each example's output is
    # s_in * (std * eps) * s_out with one eps per call, so |output| is the same for every
    # example and only the sign varies. Gaussian "signs" would give varying magnitudes.
    layer = DenseFlipout(1, posterior_std_init=0.5, seed=0)
    x = np.ones((256, 1), "float32")
    layer(x)
    layer.kernel_loc.assign(np.zeros((1, 1), "float32"))
    out = layer(x, training=True).numpy()[:, 0]  # Flipout is the training path
    assert np.allclose(np.abs(out), np.abs(out[0]), rtol=1e-6) and abs(out[0]) > 0
    positive = np.mean(out > 0)
    assert 0.4 < positive < 0.6  # both signs, about half each


@pytest.mark.parametrize("cls", [DenseFlipout, Conv2DFlipout])
def test_flipout_layers_predict_with_one_weight_sample_of_the_same_distribution(cls):
    """At prediction a Flipout layer draws one weight sample per call (one convolution, not
    two): the examples of a call share it, and each example's output has the distribution
    Flipout gives it in training (the mean and the std over many calls agree)."""
    x = _inputs(cls, batch=1)
    layer = _layer(cls, posterior_std_init=0.3, seed=4)
    layer(x)
    repeated = np.repeat(x, 8, axis=0)
    predicted, trained = layer(repeated).numpy(), layer(repeated, training=True).numpy()
    assert np.allclose(predicted, predicted[:1], atol=0) and not np.allclose(trained, trained[:1])

    @tf.function
    def draws(training):  # the one example's output in 3,000 calls (Flipout draws one eps per call)
        return tf.map_fn(lambda _: layer(x, training=training)[0], tf.range(3000), fn_output_signature=tf.float32)

    at_prediction, in_training = draws(False).numpy(), draws(True).numpy()
    std = in_training.std(axis=0)
    # Standard errors with 3,000 draws: mean std/55, std about std/77; 5 of them at most.
    assert np.all(np.abs(at_prediction.mean(axis=0) - in_training.mean(axis=0)) < 5 * std * np.sqrt(2 / 3000))
    np.testing.assert_allclose(at_prediction.std(axis=0), std, rtol=0.1)


@pytest.mark.parametrize("cls", ALL)
def test_configs_hold_plain_values_and_round_trip(cls):
    layer = _layer(cls, activation="tanh", prior_std=0.5, posterior_std_init=0.01,
                   num_train_examples=1000, bayesian_bias=True, seed=7)
    config = layer.get_config()
    assert all(isinstance(v, (int, float, str, bool, list, dict, type(None))) for v in config.values())
    again = cls.from_config(config)
    assert again.get_config() == config
    assert again.initial_kl_weight == pytest.approx(1e-3)


@pytest.mark.parametrize("cls", ALL)
def test_a_model_of_them_saves_to_keras_and_exports_as_a_saved_model(cls, tmp_path):
    x = _inputs(cls)
    inputs = keras.Input(x.shape[1:])
    hidden = _layer(cls, num_train_examples=100, seed=11)(inputs)
    model = keras.Model(inputs, keras.layers.Flatten()(hidden))
    model.compile("adam", "mse")
    model.fit(x, np.zeros((len(x), model.output_shape[-1]), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    for original, restored in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(original, restored)
    model.export(str(tmp_path / "export"), verbose=False)
    exported = tf.saved_model.load(str(tmp_path / "export"))  # keep it: it owns the variables
    served = exported.serve(tf.constant(x))
    assert served.shape == model.predict(x, verbose=0).shape and np.isfinite(served.numpy()).all()


def test_bad_arguments_say_what_was_received():
    with pytest.raises(ValueError, match=r"`prior_std` must be a number > 0. Received: prior_std=0"):
        DenseFlipout(3, prior_std=0)
    with pytest.raises(ValueError, match=r"`units` must be a positive integer. Received: units=0"):
        DenseFlipout(0)
    with pytest.raises(ValueError, match=r"`padding` must be 'valid' or 'same'. Received: padding='full'"):
        Conv2DFlipout(2, 3, padding="full")


def test_kl_warm_up_raises_the_weight_linearly_to_its_value():
    inputs = keras.Input((4,))
    layer = DenseFlipout(1, num_train_examples=10)
    model = keras.Model(inputs, layer(inputs))
    model.compile("sgd", "mse")
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(float(layer.kl_weight.numpy())))
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 1), "float32"), epochs=5, verbose=0,
              callbacks=[KLWarmUp(epochs=4), record])
    assert seen == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1])
    assert variational_layers(model) == [layer]


DISTRIBUTED = """
import json, numpy as np, keras, tensorflow as tf
from zoo.training import split_cpu, select_strategy
from zoo.layers.variational import DenseFlipout, DenseReparameterization, LSTMFlipout
split_cpu(2)
result = {}

# 1. Noise: both replicas get the same input; their outputs must differ.
strategy = select_strategy("mirrored")
with strategy.scope():
    layer = DenseFlipout(4, posterior_std_init=0.5, seed=0)
    layer.build((None, 3))
x = tf.ones((2, 3))
per_replica = strategy.run(lambda: layer(x))
values = [v.numpy() for v in strategy.experimental_local_results(per_replica)]
result["replica_outputs_differ"] = bool(not np.allclose(values[0], values[1]))
with strategy.scope():  # and the Bayesian LSTM's kernels
    lstm = LSTMFlipout(4, posterior_std_init=0.5, seed=0)
    lstm.build((None, 5, 3))
sequences = tf.ones((2, 5, 3))
values = [v.numpy() for v in strategy.experimental_local_results(strategy.run(lambda: lstm(sequences)))]
result["lstm_replica_outputs_differ"] = bool(not np.allclose(values[0], values[1]))

# 2. KL once per global step: with a data loss of exactly 0, one SGD step (lr 1) moves the
# posterior std's parameters by the KL gradient alone; it must not depend on the replicas.
def kl_step(name):
    keras.utils.set_random_seed(0)
    with select_strategy(name).scope():
        inputs = keras.Input((3,))
        model = keras.Model(inputs, DenseReparameterization(2, kl_weight=0.5, seed=1)(inputs))
        model.compile(keras.optimizers.SGD(1.0), loss=lambda y, p: 0.0 * tf.reduce_mean(p))
    rho = model.layers[-1].kernel_rho.numpy().copy()
    model.fit(np.ones((8, 3), "float32"), np.zeros((8, 2), "float32"), batch_size=8, epochs=1,
              verbose=0, shuffle=False)
    return (model.layers[-1].kernel_rho.numpy() - rho).tolist(), model.distribute_strategy.num_replicas_in_sync

result["mirrored_step"], result["mirrored_replicas"] = kl_step("mirrored")
result["single_step"], _ = kl_step("one_device")
print("RESULT " + json.dumps(result))
"""


def test_under_mirrored_strategy_replicas_draw_different_noise_and_the_kl_counts_once():
    import json
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", DISTRIBUTED], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ")[-1])
    assert result["replica_outputs_differ"] and result["lstm_replica_outputs_differ"]
    assert result["mirrored_replicas"] == 2
    step, single = np.array(result["mirrored_step"]), np.array(result["single_step"])
    assert np.abs(single).max() > 1e-4  # the KL gradient moved the std
    np.testing.assert_allclose(step, single, rtol=1e-4, atol=1e-8)
