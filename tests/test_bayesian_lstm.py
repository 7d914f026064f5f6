"""The Bayesian LSTM (`zoo.layers.LSTMFlipout`, `bayesian_lstm`, `bayesian_lstm_text`): an LSTM's
maths at zero posterior std, one weight sample per sequence held over its time steps, KL once
per call, padding that never changes a prediction, and Monte Carlo predictions and exports.
(Per-replica noise under MirroredStrategy: test_variational_layers.py.)"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.export import export_model
from zoo.layers.variational import LSTMFlipout, variational_layers
from zoo.uncertainty import predict_with_uncertainty


def _kl(loc, std, prior_std):
    return np.sum(np.log(prior_std / std) + (std**2 + loc**2) / (2 * prior_std**2) - 0.5)


def _same_noise(model):
    """Resets every variational layer's seed state, so the next call draws the same noise."""
    for layer in variational_layers(model):
        layer.seed_generator.state.assign(keras.random.SeedGenerator(layer.seed).state)


def test_at_zero_posterior_std_it_is_keras_lstm_with_its_mean_weights():
    x = np.random.default_rng(0).normal(size=(3, 7, 4)).astype("float32")
    layer = LSTMFlipout(5, return_sequences=True, seed=1)
    layer(x)
    layer.kernel_rho.assign(tf.fill(layer.kernel_rho.shape, -1e4))  # softplus(-1e4) == 0
    layer.recurrent_kernel_rho.assign(tf.fill(layer.recurrent_kernel_rho.shape, -1e4))
    layer.bias.assign(np.linspace(-0.5, 0.5, 20).astype("float32"))
    plain = keras.layers.LSTM(5, return_sequences=True)
    plain.build(x.shape)
    plain.set_weights([layer.kernel_loc.numpy(), layer.recurrent_kernel_loc.numpy(), layer.bias.numpy()])
    np.testing.assert_allclose(layer(x).numpy(), plain(x).numpy(), rtol=1e-5, atol=1e-6)


def test_each_sequence_keeps_one_weight_sample_over_its_time_steps():
    # No memory (forget gate shut, recurrent weights 0): each step's output depends only on that
    # step's input and the weights. With the same input at every step, the outputs are the same
    # at every step exactly when the weights are; they differ across sequences (Flipout signs).
    layer = LSTMFlipout(6, return_sequences=True, posterior_std_init=0.5, seed=2)
    x = np.ones((16, 9, 3), "float32")
    layer(x)
    layer.recurrent_kernel_loc.assign(tf.zeros_like(layer.recurrent_kernel_loc))
    layer.recurrent_kernel_rho.assign(tf.fill(layer.recurrent_kernel_rho.shape, -1e4))
    layer.bias.assign(np.concatenate([np.zeros(6), -1e4 * np.ones(6), np.zeros(12)]).astype("float32"))
    out = layer(x).numpy()  # (16 sequences, 9 steps, 6 units)
    np.testing.assert_allclose(out, np.repeat(out[:, :1], 9, axis=1), rtol=1e-6, atol=1e-7)
    assert len({tuple(np.round(row, 5)) for row in out[:, 0]}) > 8  # sequences draw their own
    assert not np.allclose(layer(x).numpy(), out)  # and every call draws anew


def test_the_kl_of_both_kernels_is_added_once_per_call():
    layer = LSTMFlipout(4, prior_std=0.7, posterior_std_init=0.05, num_train_examples=200, seed=3)
    layer(np.ones((2, 5, 3), "float32"))
    assert len(layer.losses) == 1
    expected = sum(_kl(getattr(layer, f"{n}_loc").numpy(), tf.nn.softplus(getattr(layer, f"{n}_rho")).numpy(), 0.7)
                   for n in ("kernel", "recurrent_kernel"))
    assert float(layer.losses[0]) == pytest.approx(expected / 200, rel=1e-5)


@pytest.mark.parametrize("where", ["after", "before"])
def test_text_padding_does_not_change_a_prediction_with_the_same_noise(where):
    model = zoo.build("bayesian_lstm_text", vocab_size=50, embedding_dim=8, posterior_std_init=0.3)
    tokens = np.array([[5, 17, 3, 9, 2], [8, 8, 1, 40, 11]], "int32")
    zeros = np.zeros((2, 4), "int32")
    padded = np.concatenate([tokens, zeros] if where == "after" else [zeros, tokens], axis=1)
    _same_noise(model)
    plain = model(tokens).numpy()
    _same_noise(model)
    np.testing.assert_allclose(model(padded).numpy(), plain, rtol=1e-5, atol=1e-6)
    assert not np.allclose(model(tokens).numpy(), plain)  # other noise, another prediction


def test_numeric_padding_with_mask_value_does_not_change_a_prediction():
    model = zoo.build("bayesian_lstm", input_shape=(None, 2), mask_value=0.0, lstm_units=(8, 4),
                      attention_pooling=True, posterior_std_init=0.3)
    series = np.random.default_rng(0).uniform(0.1, 1.0, size=(3, 7, 2)).astype("float32")
    padded = np.concatenate([series, np.zeros((3, 5, 2), "float32")], axis=1)
    _same_noise(model)
    plain = model(series).numpy()
    _same_noise(model)
    np.testing.assert_allclose(model(padded).numpy(), plain, rtol=1e-5, atol=1e-6)


def test_it_learns_and_its_monte_carlo_export_serves_mean_and_std(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(512, 10, 1)).astype("float32")
    y = (x[:, -3:, 0].mean(axis=1, keepdims=True) + rng.normal(0, 0.1, size=(512, 1))).astype("float32")
    model = zoo.build("bayesian_lstm", input_shape=(10, 1), num_train_examples=512)
    model.optimizer.learning_rate = 1e-2
    history = model.fit(x, y, epochs=15, batch_size=64, verbose=0).history["loss"]
    assert history[-1] < history[0]
    result = predict_with_uncertainty(model, x[:64], samples=16)
    rmse = float(np.sqrt(np.mean((result.mean - y[:64]) ** 2)))
    assert rmse < 0.3, rmse  # the target's own std is 0.33; its noise 0.1
    assert (result.epistemic_std > 0).all() and (result.aleatoric_std > 0).all()
    path = export_model(model, tmp_path, mc_samples=16)
    served = tf.saved_model.load(str(path)).signatures["serving_default"](inputs=tf.constant(x[:4]))
    assert set(served) == {"mean", "std", "aleatoric_std", "epistemic_std"}
    np.testing.assert_allclose(served["mean"].numpy(), result.mean[:4], atol=0.1)
