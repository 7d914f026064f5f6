"""gp_regressor: exact GP regression with TFP, hyperparameters by marginal likelihood in `fit`."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo

N_TRAIN = 200


def _problem(n, seed):
    """Three features in [-2, 2]; the target depends on the first alone, plus N(0, 0.1²) noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 3)).astype("float32")
    return x, (np.sin(1.5 * x[:, 0]) + 0.1 * rng.normal(size=n)).astype("float32")


@pytest.fixture(scope="module")
def fitted():
    keras.utils.set_random_seed(0)
    x, y = _problem(N_TRAIN, seed=0)
    model = zoo.build("gp_regressor", input_shape=(3,), num_train_examples=N_TRAIN)
    history = model.fit(x, y, epochs=200, verbose=0)
    return model, x, y, history.history["loss"]


def test_fit_maximises_the_marginal_likelihood(fitted):
    _, _, _, losses = fitted
    assert losses[-1] < losses[0] - 0.5  # per-example negative log marginal likelihood
    assert losses[-1] <= min(losses) + 1e-3  # converged, not oscillating


def test_the_feature_that_matters_gets_a_clearly_shorter_length_scale(fitted):
    model = fitted[0]
    relevant, *irrelevant = model.length_scales
    assert relevant * 4 < min(irrelevant), model.length_scales
    # The noise it learns is the noise in the data (std 0.1 -> variance 0.01 of targets with
    # std ~0.72, i.e. ~0.02 in standardised units).
    assert 0.005 < model.observation_noise_variance < 0.05


def test_about_95_percent_of_held_out_targets_fall_in_the_95_percent_interval(fitted):
    model = fitted[0]
    x_test, y_test = _problem(2000, seed=1)
    mean, std = model.predict(x_test, verbose=0).T
    coverage = np.mean(np.abs(y_test - mean) <= 1.96 * std)
    # Binomial standard error at n=2000 is 0.5%; the tolerance allows for a fitted model.
    assert 0.92 <= coverage <= 0.98, coverage
    assert np.sqrt(np.mean((y_test - mean) ** 2)) < 0.15  # close to the noise floor, 0.1


def test_predictions_equal_the_closed_form_gp_posterior(fitted):
    """The textbook equations (Rasmussen & Williams, eq. 2.22-2.24) in NumPy, with the model's
    hyperparameters and standardisation, against the model's TFP-based predictions."""
    model, x, y = fitted[:3]
    x_test, _ = _problem(50, seed=2)
    mu_x, sd_x = x.mean(0), x.std(0)
    mu_y, sd_y = y.astype(np.float64).mean(), y.astype(np.float64).std()
    a, ls, noise = model.amplitude, model.length_scales, model.observation_noise_variance

    def k(p, q):
        p, q = (p - mu_x) / sd_x / ls, (q - mu_x) / sd_x / ls
        return a**2 * np.exp(-0.5 * ((p[:, None, :] - q[None, :, :]) ** 2).sum(-1))

    K = k(x.astype(np.float64), x.astype(np.float64)) + noise * np.eye(len(x))
    k_star = k(x_test.astype(np.float64), x.astype(np.float64))
    mean = k_star @ np.linalg.solve(K, (y - mu_y) / sd_y) * sd_y + mu_y
    var = a**2 - np.einsum("ij,ji->i", k_star, np.linalg.solve(K, k_star.T)) + noise
    out = model.predict(x_test, verbose=0)
    np.testing.assert_allclose(out[:, 0], mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out[:, 1], np.sqrt(var) * sd_y, rtol=1e-3, atol=1e-4)


def test_fit_on_a_dataset_of_batches_equals_fit_on_arrays():
    x, y = _problem(64, seed=3)
    models = [zoo.build("gp_regressor", num_train_examples=64) for _ in range(2)]
    models[0].fit(x, y, epochs=20, verbose=0)
    batches = tf.data.Dataset.from_tensor_slices((x, y[:, None])).batch(10)  # as a recipe gives
    models[1].fit(batches, epochs=20, verbose=0)
    np.testing.assert_allclose(models[1].length_scales, models[0].length_scales, rtol=1e-5)
    np.testing.assert_allclose(models[1].predict(x[:5], verbose=0), models[0].predict(x[:5], verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_save_and_load_keep_the_training_data_and_hyperparameters(fitted, tmp_path):
    model = fitted[0]
    x_test, _ = _problem(20, seed=4)
    model.save(tmp_path / "gp.keras")
    loaded = keras.saving.load_model(tmp_path / "gp.keras")
    np.testing.assert_array_equal(loaded.predict(x_test, verbose=0), model.predict(x_test, verbose=0))


@pytest.mark.parametrize("call, message", [
    (lambda m, x, y: m.fit(x[:50], y[:50], verbose=0),
     r"built for num_train_examples=64 .* received 50 inputs .* num_train_examples=50"),
    (lambda m, x, y: m.fit(np.where(np.arange(64)[:, None] == 3, np.nan, x), y, verbose=0), "NaN or Inf"),
    (lambda m, x, y: m.fit(x[:, :2], y, verbose=0), r"inputs of shape \(n, 3\). Received: \(64, 2\)"),
    (lambda m, x, y: m.fit(x, y, validation_split=0.2, verbose=0), "validation_data"),
])
def test_bad_training_data_gets_a_clear_error(call, message):
    x, y = _problem(64, seed=5)
    model = zoo.build("gp_regressor", num_train_examples=64)
    with pytest.raises(ValueError, match=message):
        call(model, x, y)


def test_bad_hyperparameters_get_a_clear_error():
    with pytest.raises(ValueError, match=r"`length_scale` must be a number > 0. Received: length_scale=-1"):
        zoo.build("gp_regressor", length_scale=-1.0)
    with pytest.raises(ValueError, match=r"O\(n³\)"):
        zoo.build("gp_regressor", num_train_examples=10**6)
