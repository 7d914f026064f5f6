"""Sparse variational GPs (`zoo.layers.sparse_gp`, `svgp_regressor`, `gp_classifier`): the
maths against an exact GP computed in NumPy and against TFP's own `VariationalGaussianProcess`,
the ELBO's bound, classification on known boundaries, and training under MirroredStrategy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import zoo
from zoo import heads, uncertainty
from zoo.layers import sparse_gp
from zoo.models import gp as gp_models

tfd = tfp.distributions

AMPLITUDE, LENGTH_SCALE, NOISE = 1.3, 0.7, 0.05


def _se(a, b):
    return AMPLITUDE**2 * np.exp(-0.5 * ((a[:, None] - b[None]) ** 2).sum(-1) / LENGTH_SCALE**2)


def _problem(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n, 2))
    y = np.sin(2 * x[:, 0]) + 0.5 * x[:, 1] + np.sqrt(NOISE) * rng.standard_normal(n)
    return x, y


def _regressor(x, *, inducing=None, num_inducing=None):
    """An svgp_regressor with the test's hyperparameters and inducing inputs."""
    num_inducing = num_inducing or len(inducing)
    model = zoo.build("svgp_regressor", input_shape=(x.shape[1],), num_inducing=num_inducing,
                      num_train_examples=len(x))
    layer = model.get_layer("svgp")
    layer.raw_amplitude.assign(sparse_gp.softplus_inverse(AMPLITUDE))
    layer.raw_length_scales.assign(np.full(x.shape[1], sparse_gp.softplus_inverse(LENGTH_SCALE), "float32"))
    likelihood = model.get_layer("likelihood")
    likelihood.raw_noise_variance.assign(sparse_gp.softplus_inverse(NOISE - likelihood.min_noise_variance))
    if inducing is not None:
        layer.inducing_points.assign(inducing.astype("float32"))
    return model


def _set_whitened_posterior(layer, mean_u, cov_u):
    """Sets q(v) so that q(u) = N(mean_u, cov_u), through the layer's own Cholesky of K(Z, Z)."""
    chol = layer.inducing_cholesky().numpy()
    loc = np.linalg.solve(chol, mean_u)
    cov_v = np.linalg.solve(chol, np.linalg.solve(chol, cov_u).T)
    scale = np.linalg.cholesky(0.5 * (cov_v + cov_v.T) + 1e-9 * np.eye(len(loc)))
    layer.variational_loc.assign(loc[None].astype("float32"))
    layer.variational_scale.assign(tfp.math.fill_triangular_inverse(scale[None].astype("float32")))


def _elbo(model, x, y) -> float:
    """The model's training objective as an ELBO: -N x (mean loss + added losses), all data in one batch."""
    outputs = model(x.astype("float32"), training=True)
    data = float(keras.ops.mean(model.loss(y.reshape(-1, 1).astype("float32"), outputs)))
    return -len(x) * (data + float(sum(model.losses)))


def _log_marginal_likelihood(x, y) -> float:
    covariance = _se(x, x) + NOISE * np.eye(len(x))
    _, logdet = np.linalg.slogdet(covariance)
    return float(-0.5 * y @ np.linalg.solve(covariance, y) - 0.5 * logdet - 0.5 * len(x) * np.log(2 * np.pi))


def test_with_inducing_inputs_at_the_data_and_the_optimal_posterior_it_is_the_exact_gp():
    x, y = _problem()
    model = _regressor(x, inducing=x)
    kernel = _se(x, x)
    gain = kernel @ np.linalg.inv(kernel + NOISE * np.eye(len(x)))
    _set_whitened_posterior(model.get_layer("svgp"), gain @ y, kernel - gain @ kernel)  # Titsias' optimum

    x_test = np.random.default_rng(1).uniform(-2.5, 2.5, (50, 2))
    cross = _se(x_test, x)
    solve = np.linalg.solve(kernel + NOISE * np.eye(len(x)), np.column_stack([y, cross.T]))
    exact_mean = cross @ solve[:, 0]
    exact_std = np.sqrt(AMPLITUDE**2 - np.einsum("ij,ji->i", cross, solve[:, 1:]) + NOISE)
    mean, std = model.predict(x_test.astype("float32"), verbose=0).T
    np.testing.assert_allclose(mean, exact_mean, atol=2e-3)
    np.testing.assert_allclose(std, exact_std, atol=2e-3)
    # Titsias' bound is tight there: the ELBO is the exact log marginal likelihood.
    assert _elbo(model, x, y) == pytest.approx(_log_marginal_likelihood(x, y), abs=0.05)


def test_the_elbo_never_exceeds_the_exact_log_marginal_likelihood():
    x, y = _problem()
    exact = _log_marginal_likelihood(x, y)
    rng = np.random.default_rng(2)
    for trial in range(6):
        m = int(rng.integers(3, 30))
        model = _regressor(x, inducing=rng.uniform(-2, 2, (m, 2)))
        layer = model.get_layer("svgp")
        layer.variational_loc.assign(rng.standard_normal((1, m)).astype("float32"))
        scale = np.tril(rng.standard_normal((m, m))) * 0.3 + np.eye(m) * 0.5
        layer.variational_scale.assign(tfp.math.fill_triangular_inverse(scale[None].astype("float32")))
        assert _elbo(model, x, y) <= exact + 1e-3, trial


def _titsias_bound(x, y, z) -> float:
    """Titsias' (2009) collapsed bound: the ELBO at the optimal q(u) for inducing inputs z."""
    kzz, kzx = _se(z, z) + 1e-6 * np.eye(len(z)), _se(z, x)
    nystrom = kzx.T @ np.linalg.solve(kzz, kzx)
    covariance = nystrom + NOISE * np.eye(len(x))
    _, logdet = np.linalg.slogdet(covariance)
    return float(-0.5 * y @ np.linalg.solve(covariance, y) - 0.5 * logdet - 0.5 * len(x) * np.log(2 * np.pi)
                 - 0.5 / NOISE * np.trace(_se(x, x) - nystrom))


def test_minibatch_training_reaches_the_optimal_elbo_for_its_inducing_inputs():
    x, y = _problem(n=64)
    z = x[:16]
    model = _regressor(x, inducing=z)
    before = _elbo(model, x, y)
    # Only q(u) learns: the optimum is then Titsias' collapsed bound, known in closed form.
    model.get_layer("likelihood").trainable = False
    layer = model.get_layer("svgp")
    for variable in (layer.raw_amplitude, layer.raw_length_scales, layer.inducing_points):
        variable.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=sparse_gp.MeanStdNLL())
    model.fit(x.astype("float32"), y.astype("float32"), batch_size=16, epochs=150, verbose=0)
    after, optimum = _elbo(model, x, y), _titsias_bound(x, y, z)
    assert before < optimum - 100  # it started far from the optimum
    assert after == pytest.approx(optimum, abs=0.5)
    assert after <= _log_marginal_likelihood(x, y)


def test_the_layer_agrees_with_tfps_variational_gaussian_process():
    rng = np.random.default_rng(3)
    layer = sparse_gp.SparseVariationalGP(units=2, num_inducing=7, kernel="matern52")
    x = rng.standard_normal((9, 3)).astype("float32")
    layer(x)
    layer.variational_loc.assign(rng.standard_normal((2, 7)).astype("float32"))
    layer.variational_scale.assign(0.3 * rng.standard_normal((2, 28)).astype("float32"))
    mean, variance = (np.asarray(t) for t in layer.moments(x))
    tfp_gp = tfd.VariationalGaussianProcess(
        layer.kernel(), index_points=tf.cast(x, tf.float64),
        inducing_index_points=tf.cast(layer.inducing_points, tf.float64),
        variational_inducing_observations_loc=tf.cast(layer.variational_loc, tf.float64),
        variational_inducing_observations_scale=layer.scale_tril(), use_whitening_transform=True,
        observation_noise_variance=tf.constant(0.0, tf.float64), jitter=layer.jitter)
    np.testing.assert_allclose(mean.T, tfp_gp.mean().numpy(), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(variance.T, tfp_gp.variance().numpy(), rtol=1e-6, atol=1e-8)
    assert float(layer.kl_divergence()) == pytest.approx(
        float(tf.reduce_sum(tfp_gp.surrogate_posterior_kl_divergence_prior())), rel=1e-9)


def test_kernel_names_the_catalog_checks_are_the_layers():
    assert gp_models.KERNEL_NAMES == tuple(sparse_gp.KERNELS)
    with pytest.raises(ValueError, match="`kernel` must be one of 'exponentiated_quadratic'.*Received: kernel='rbf'"):
        zoo.build("gp_classifier", kernel="rbf")
    with pytest.raises(ValueError, match="features='lenet'.*needs images"):
        zoo.build("gp_classifier", features="lenet")
    with pytest.raises(ValueError, match=r"`num_inducing` must be an integer in \[1, 4096\]. Received: num_inducing=0"):
        zoo.build("svgp_regressor", num_inducing=0)
    with pytest.raises(ValueError, match="likelihood='bernoulli' is for 2 classes"):
        zoo.build("gp_classifier", likelihood="bernoulli", num_classes=3)


def _two_class_problem(n, seed):
    """Labels by the known boundary x0 + 2·x1 = 0.5, with 5% of labels flipped."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n, 2)).astype("float32")
    y = (x[:, 0] + 2 * x[:, 1] > 0.5).astype("int64")
    flip = rng.uniform(size=n) < 0.05
    return x, np.where(flip, 1 - y, y)


def _trained_classifier(x, y, **config):
    keras.utils.set_random_seed(0)
    config = {"num_classes": 2, **config}
    model = zoo.build("gp_classifier", input_shape=(2,), num_inducing=16, num_train_examples=len(x), **config)
    sparse_gp.initialize_inducing_points(model, x)
    model.optimizer.learning_rate = 0.05
    model.fit(x, y, batch_size=64, epochs=60, verbose=0)
    return model


def test_the_binary_classifier_recovers_a_known_decision_boundary_and_returns_to_the_prior_far_away():
    x, y = _two_class_problem(400, seed=0)
    model = _trained_classifier(x, y)
    assert model.output_shape == (None, 2)  # one latent GP: [mean, variance]
    x_test, _ = _two_class_problem(400, seed=1)
    truth = x_test[:, 0] + 2 * x_test[:, 1] > 0.5
    result = uncertainty.predict_with_uncertainty(model, x_test)
    assert np.mean(result.classes == truth) >= 0.95
    # Either side of the boundary, 0.4 along its normal, every point is on its own side; on it the
    # classifier is unsure.
    along = np.array([[0.5 - 2 * t, t] for t in np.linspace(-0.7, 0.9, 9)], "float32")
    normal = np.array([1, 2], "float32") / np.sqrt(5)
    assert np.all(uncertainty.predict_with_uncertainty(model, along + 0.4 * normal).classes == 1)
    assert np.all(uncertainty.predict_with_uncertainty(model, along - 0.4 * normal).classes == 0)
    assert np.mean(np.abs(uncertainty.predict_with_uncertainty(model, along).probabilities[:, 1] - 0.5)) < 0.25
    far = uncertainty.predict_with_uncertainty(model, np.array([[40.0, -60.0]], "float32"))
    assert far.probabilities[0] == pytest.approx([0.5, 0.5], abs=0.02)
    assert far.entropy[0] == pytest.approx(np.log(2), abs=1e-3)


def test_the_two_class_and_softmax_paths_agree():
    head = heads.get("gp_latent")
    rng = np.random.default_rng(4)
    mean, variance = rng.normal(0, 2, (64, 1)), rng.uniform(0.01, 4, (64, 1))
    # softmax([0, f]) = [1 - sigmoid(f), sigmoid(f)]: one latent f against two, the first fixed at 0.
    binary = np.concatenate([mean, variance], -1).astype("float32")
    softmax = np.concatenate([np.zeros_like(mean), mean, np.full_like(mean, 1e-10), variance], -1).astype("float32")
    np.testing.assert_allclose(np.asarray(head.probabilities(binary)), np.asarray(head.probabilities(softmax)),
                               atol=0.01)
    labels = rng.integers(0, 2, 64)
    loss = sparse_gp.VariationalClassificationNLL(samples=20000)
    np.testing.assert_allclose(np.asarray(loss.call(labels, binary)), np.asarray(loss.call(labels, softmax)),
                               rtol=0.02, atol=0.01)
    # Trained both ways on the same data, they draw the same boundary.
    x, y = _two_class_problem(400, seed=0)
    x_test, _ = _two_class_problem(400, seed=1)
    bernoulli = _trained_classifier(x, y).predict(x_test, verbose=0)
    categorical_model = _trained_classifier(x, y, likelihood="softmax")
    assert categorical_model.output_shape == (None, 4)
    categorical = categorical_model.predict(x_test, verbose=0)
    agree = np.mean(np.argmax(head.probabilities(bernoulli), -1) == np.argmax(head.probabilities(categorical), -1))
    assert agree >= 0.97


def test_robustmax_probabilities_and_loss_are_the_monte_carlo_expectations():
    """P(k = argmax f) by quadrature, the served probabilities and the loss against 400,000
    NumPy draws of independent latents, for means and variances far apart and close."""
    rng = np.random.default_rng(6)
    mean = rng.normal(0, 2, (16, 4)).astype("float32")
    variance = rng.uniform(0.01, 4, (16, 4)).astype("float32")
    f = mean + np.sqrt(variance) * rng.standard_normal((400_000, 16, 4))
    winners = np.argmax(f, -1)
    argmax = np.stack([np.mean(winners == k, axis=0) for k in range(4)], -1)  # (16, 4)
    quadrature = np.asarray(heads.robustmax_argmax_probabilities(mean, variance))
    np.testing.assert_allclose(quadrature, argmax, atol=0.005)
    np.testing.assert_allclose(quadrature.sum(-1), 1.0, atol=1e-5)
    epsilon = heads.ROBUSTMAX_EPSILON
    raw = np.concatenate([mean, variance], -1)
    expected = (1 - epsilon) * argmax + epsilon / 3 * (1 - argmax)
    np.testing.assert_allclose(np.asarray(heads.get("gp_robustmax").probabilities(raw)), expected, atol=0.005)
    labels = rng.integers(0, 4, 16)
    log_likelihood = np.where(winners == labels, np.log(1 - epsilon), np.log(epsilon / 3)).mean(0)
    loss = sparse_gp.VariationalClassificationNLL(likelihood="robustmax")
    np.testing.assert_allclose(np.asarray(loss.call(labels, raw)), -log_likelihood, atol=0.05)
    # Equal latents (the prior, far from the data): every class is equally likely.
    prior = np.asarray(heads.get("gp_robustmax").probabilities(np.ones((1, 8), "float32")))
    np.testing.assert_allclose(prior, 0.25, atol=1e-5)


def test_a_robustmax_classifier_learns_three_classes_and_records_its_head(tmp_path):
    x, y = _two_class_problem(400, seed=0)
    third = x[:, 0] > 0.8  # a third class at the right
    model = _trained_classifier(x, np.where(third, 2, y), num_classes=3, likelihood="robustmax")
    assert heads.head_of(model) == "gp_robustmax" and model.output_shape == (None, 6)
    result = uncertainty.predict_with_uncertainty(model, x)
    truth = np.where(third, 2, x[:, 0] + 2 * x[:, 1] > 0.5)  # without the 5% flipped labels
    assert np.mean(result.classes == truth) >= 0.93
    far = uncertainty.predict_with_uncertainty(model, np.array([[40.0, -60.0]], "float32"))
    np.testing.assert_allclose(far.probabilities[0], 1 / 3, atol=0.02)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert heads.infer_head(loaded) == "gp_robustmax"  # from the loss's config, without the catalog's record
    np.testing.assert_allclose(uncertainty.predict_with_uncertainty(loaded, x[:16], head="gp_robustmax").probabilities,
                               result.probabilities[:16], atol=1e-6)


def test_initialize_puts_inducing_inputs_on_the_data_and_sets_the_median_length_scale():
    x = np.random.default_rng(5).standard_normal((300, 4)).astype("float32") * 10 + 50
    model = zoo.build("gp_classifier", num_inducing=20)
    sparse_gp.initialize_inducing_points(model, tf.data.Dataset.from_tensor_slices((x, np.zeros(300))).batch(64))
    points = model.get_layer("svgp").inducing_points.numpy()
    assert all(np.any(np.all(np.isclose(x, point), axis=1)) for point in points)  # each is a training input
    assert len({tuple(p) for p in points}) == 20
    distances = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))[np.triu_indices(20, 1)]
    np.testing.assert_allclose(model.get_layer("svgp").length_scales, np.median(distances), rtol=1e-4)
    # Fewer examples than inducing inputs: every example, then jittered copies.
    model = zoo.build("svgp_regressor", num_inducing=10)
    sparse_gp.initialize_inducing_points(model, x[:4, :3])
    assert model.get_layer("svgp").inducing_points.shape == (10, 3)


def test_the_export_serves_logits_probabilities_classes_and_entropy(tmp_path):
    from zoo.export import export_model

    x, y = _two_class_problem(200, seed=0)
    model = _trained_classifier(x[:200], y[:200])
    path = export_model(model, tmp_path, name="gp", input_name="features", warmup_inputs=x[:2])
    served = tf.saved_model.load(str(path)).signatures["serving_default"](features=tf.constant(x[:8]))
    assert set(served) == {"logits", "probabilities", "classes", "entropy"}
    expected = uncertainty.predict_with_uncertainty(model, x[:8])
    np.testing.assert_allclose(served["probabilities"].numpy(), expected.probabilities, atol=1e-6)
    np.testing.assert_allclose(served["entropy"].numpy(), expected.entropy, atol=1e-5)
    np.testing.assert_allclose(np.exp(served["logits"].numpy()), expected.probabilities, atol=1e-6)


MIRRORED = """
import json, sys
import tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np, zoo
from zoo.layers import sparse_gp
rng = np.random.default_rng(0)
x = rng.uniform(-2, 2, (256, 2)).astype("float32")
targets = {"svgp_regressor": np.sin(2 * x[:, :1]).astype("float32"),
           "gp_classifier": (x[:, :1] + x[:, 1:] > 0).astype("int64")}
losses = {}
# One strategy object for both models: a second MirroredStrategy in one process reuses the
# first's collective instance keys, and TensorFlow then mixes up their all-reduces.
strategies = (tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), tf.distribute.OneDeviceStrategy("/cpu:0"))
for name, y in targets.items():
    for strategy in strategies:
        keras.utils.set_random_seed(0)
        with strategy.scope():
            config = {"num_classes": 2, "input_shape": (2,)} if name == "gp_classifier" else {"input_shape": (2,)}
            model = zoo.build(name, num_inducing=8, num_train_examples=256, **config)
            sparse_gp.initialize_inducing_points(model, x)
        history = model.fit(x, y, batch_size=64, epochs=3, shuffle=False, verbose=0).history["loss"]
        losses.setdefault(name, []).append({"replicas": strategy.num_replicas_in_sync, "epochs": history,
                                           "test": model.evaluate(x, y, verbose=0)[0]})
print("LOSSES " + json.dumps(losses))
"""


def test_mirrored_over_two_devices_gives_one_replicas_losses():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", MIRRORED], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for name, (mirrored, single) in json.loads(done.stdout.split("LOSSES ")[-1]).items():
        assert (mirrored["replicas"], single["replicas"]) == (2, 1)
        assert mirrored["epochs"] == pytest.approx(single["epochs"], rel=1e-4), name
        assert mirrored["test"] == pytest.approx(single["test"], rel=1e-4), name
        assert mirrored["epochs"][-1] < mirrored["epochs"][0], name  # it learned


@pytest.mark.parametrize("name, config", [
    ("gp_classifier", {"input_shape": (28, 28, 1), "num_classes": 10, "features": "lenet"}),
    ("svgp_regressor", {"input_shape": (5,), "features": "mlp", "kernel": "matern52"}),
], ids=["deep kernel classifier", "mlp-feature regressor"])
def test_deep_kernel_variants_train_save_and_load(name, config, tmp_path):
    model = zoo.build(name, num_inducing=8, **config)
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 255, (16, *config["input_shape"])).astype("float32")
    y = rng.integers(0, 10, 16) if name == "gp_classifier" else rng.standard_normal((16, 1)).astype("float32")
    sparse_gp.initialize_inducing_points(model, x)
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert all(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
    model.save(tmp_path / "model.keras")
    loaded = zoo.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert heads.head_of(loaded) == heads.head_of(model)
