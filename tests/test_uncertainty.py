"""zoo.uncertainty: Monte Carlo prediction in one compiled call, its decomposition, metrics."""

from __future__ import annotations

import numpy as np
import pytest

import keras
import zoo
from zoo import uncertainty as u


def test_entropy_decomposes_into_expected_entropy_plus_mutual_information():
    # Two confident samples that disagree: high entropy, all of it epistemic.
    probabilities = np.array([[[0.99, 0.01]], [[0.01, 0.99]]])  # (samples, examples, classes)
    entropy = u._entropy(probabilities.mean(0))
    expected = u._entropy(probabilities).mean(0)
    assert entropy[0] == pytest.approx(np.log(2), rel=1e-6)  # the mean is (0.5, 0.5)
    assert expected[0] == pytest.approx(-(0.99 * np.log(0.99) + 0.01 * np.log(0.01)), rel=1e-6)
    assert entropy[0] - expected[0] > 0.6  # mutual information: the samples disagree


def test_a_deterministic_model_has_zero_mutual_information_and_its_own_probabilities():
    model = zoo.build("lenet", dropout=0.0)
    x = np.random.default_rng(0).uniform(0, 255, (5, 28, 28, 1)).astype("float32")
    result = u.predict_with_uncertainty(model, x, samples=8)
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(x)))
    np.testing.assert_allclose(result.probabilities, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.mutual_information, 0.0, atol=1e-5)
    np.testing.assert_allclose(result.std, 0.0, atol=1e-6)


@pytest.mark.parametrize("layer", ["flipout", "reparameterization"])
def test_samples_in_one_call_agree_with_a_loop_of_single_passes(layer):
    keras.utils.set_random_seed(0)
    if layer == "flipout":
        model = zoo.build("bayesian_mlp", input_shape=(6,), num_classes=3, hidden_units=(16,),
                          posterior_std_init=0.3)
    else:
        from zoo.layers.variational import DenseReparameterization

        inputs = keras.Input((6,))
        model = keras.Model(inputs, DenseReparameterization(3, posterior_std_init=0.3, seed=2)(inputs))
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    vectorised = u.sample_outputs(model, x, samples=400)
    looped = np.stack([keras.ops.convert_to_numpy(model(x)) for _ in range(400)])
    assert vectorised.shape == looped.shape == (400, 4, 3)
    assert np.std(vectorised, axis=0).min() > 0.01  # the samples really differ
    # Same distribution: means agree within Monte Carlo error (4 standard errors of the
    # difference of two 400-sample means), and so do the spreads.
    error = 4 * np.sqrt((looped.var(axis=0) + vectorised.var(axis=0)) / 400)
    assert np.all(np.abs(vectorised.mean(0) - looped.mean(0)) < error + 1e-6)
    np.testing.assert_allclose(vectorised.std(0), looped.std(0), rtol=0.25)


def test_regression_head_gives_a_mean_and_a_total_std_above_the_aleatoric_one():
    model = zoo.build("bayesian_mlp", input_shape=(3,), task="regression", hidden_units=(8,),
                      posterior_std_init=0.2)
    result = u.predict_with_uncertainty(model, np.ones((5, 3), "float32"), samples=64)
    assert result.mean.shape == (5, 1) and result.std.shape == (5, 1)
    assert np.all(result.std >= result.aleatoric_std) and np.all(result.epistemic_std > 0)


def test_metrics_match_their_definitions():
    probabilities = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]])
    labels = np.array([0, 1, 1, 0])
    assert u.negative_log_likelihood(probabilities, labels) == pytest.approx(
        -np.mean(np.log([0.8, 0.7, 0.4, 0.9])))
    assert u.brier_score(probabilities, labels) == pytest.approx(
        np.mean([0.04 + 0.04, 0.09 + 0.09, 0.36 + 0.36, 0.01 + 0.01]))
    # Bins of width 1/15: confidences 0.8, 0.7, 0.6 and 0.9 fall in four different bins,
    # with accuracies 1, 1, 0, 1: ECE = (0.2 + 0.3 + 0.6 + 0.1) / 4.
    assert u.expected_calibration_error(probabilities, labels) == pytest.approx(0.3)


def test_a_calibrated_predictor_has_a_small_ece_and_the_diagram_is_a_png(tmp_path):
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 20000)
    labels = (rng.uniform(size=20000) > confidence).astype(int)  # right with prob = confidence
    probabilities = np.stack([confidence, 1 - confidence], axis=1)
    assert u.expected_calibration_error(probabilities, labels) < 0.02
    path = u.reliability_diagram(probabilities, labels, tmp_path / "reliability.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "ECE 0.0" in u.reliability_figure(probabilities, labels).axes[0].get_title()


def test_a_small_test_set_gets_fewer_bins_with_their_counts_and_the_ece_shown():
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.5, 1.0, 360)
    labels = (rng.uniform(size=360) > confidence).astype(int)
    probabilities = np.stack([confidence, 1 - confidence], axis=1)
    assert u.reliability_bins(360) == 7 and u.reliability_bins(20000) == 15 and u.reliability_bins(40) == 5
    upper, counts = u.reliability_figure(probabilities, labels).axes
    ece7 = u.expected_calibration_error(probabilities, labels, 7)
    ece15 = u.expected_calibration_error(probabilities, labels, 15)
    assert f"ECE {ece7:.3f} over 7 equal-width bins, 360 examples" in upper.get_title()
    assert f"(15-bin ECE, as in metrics.json: {ece15:.3f})" in upper.get_title()
    heights = [patch.get_height() for patch in counts.patches]
    assert len(heights) == 7 and sum(heights) == 360
    assert [text.get_text() for text in counts.texts] == [str(int(h)) for h in heights if h]


def test_bad_input_says_what_was_received():
    model = zoo.build("lenet")
    with pytest.raises(ValueError, match="`samples` must be a positive integer. Received: samples=0"):
        u.predict_with_uncertainty(model, np.zeros((1, 28, 28, 1)), samples=0)
    with pytest.raises(ValueError, match=r"Expected probabilities of shape \(n, classes\) and n labels"):
        u.brier_score([0.5, 0.5], [0])


def test_mc_dropout_models_sample_at_prediction_time_and_plain_ones_do_not(tmp_path):
    x = np.random.default_rng(0).uniform(0, 255, (6, 28, 28, 1)).astype("float32")
    mc = zoo.build("lenet", mc_dropout=True)
    assert not np.allclose(mc.predict(x, verbose=0), mc.predict(x, verbose=0))
    assert u.predict_with_uncertainty(mc, x, samples=16).mutual_information.min() > 0
    plain = zoo.build("lenet")
    np.testing.assert_array_equal(plain.predict(x, verbose=0), plain.predict(x, verbose=0))
    mc.save(tmp_path / "mc.keras")
    loaded = keras.saving.load_model(tmp_path / "mc.keras")
    assert type(loaded.get_layer("dropout_1")).__name__ == "MCDropout"
    mlp = zoo.build("mlp", input_shape=(4,), dropout=0.5, mc_dropout=True)
    assert not np.allclose(mlp.predict(np.ones((3, 4)), verbose=0), mlp.predict(np.ones((3, 4)), verbose=0))


def test_mc_dropout_without_dropout_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"`mc_dropout=True` needs dropout to sample from. Received: mc_dropout=True, dropout=0.0; set dropout > 0."):
        zoo.build("mlp", mc_dropout=True)


def test_a_bayesian_export_serves_mc_means_that_agree_with_predict_with_uncertainty(tmp_path):
    import tensorflow as tf

    from zoo.export import export_model, read_card

    keras.utils.set_random_seed(0)
    model = zoo.build("bayesian_lenet", filters=(4, 8), dense_units=(16,), posterior_std_init=0.05)
    x = np.random.default_rng(0).uniform(0, 255, (6, 28, 28, 1)).astype("float32")
    path = export_model(model, tmp_path, input_name="images", mc_samples=32)
    assert read_card(path)["outputs"] == ["probabilities", "classes", "entropy"]
    loaded = tf.saved_model.load(str(path))
    served = loaded.signatures["serving_default"](images=tf.constant(x))
    assert set(served) == {"probabilities", "classes", "entropy"}
    reference = u.predict_with_uncertainty(model, x, samples=512)
    # Within Monte Carlo error of a 32-sample mean against a 512-sample one.
    error = 4 * reference.std * np.sqrt(1 / 32 + 1 / 512) + 1e-4
    assert np.all(np.abs(served["probabilities"].numpy() - reference.probabilities) < error)
    np.testing.assert_allclose(served["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(served["entropy"].numpy(), u._entropy(served["probabilities"].numpy()), rtol=1e-4, atol=1e-5)
    sample = loaded.signatures["sample"]
    first, second = sample(images=tf.constant(x)), sample(images=tf.constant(x))
    assert set(first) == {"logits", "probabilities", "classes"}
    assert not np.allclose(first["logits"].numpy(), second["logits"].numpy())  # one pass each


def test_mc_samples_is_refused_for_heads_that_cannot_be_averaged(tmp_path):
    from zoo.export import export_model

    with pytest.raises(ValueError, match=r"`mc_samples` must be a positive integer, for a model whose head is one of logits, normal. Received: mc_samples=8 for head='classes'"):
        export_model(zoo.build("perceptron"), tmp_path, mc_samples=8)
    with pytest.raises(ValueError, match=r"`target_scale` must be \(loc, scale > 0\), for a regressor. Received: target_scale=\(0, 1\) for head='logits'"):
        export_model(zoo.build("lenet"), tmp_path, target_scale=(0, 1))


def test_a_bayesian_regressor_export_serves_mc_mean_and_std_in_target_units(tmp_path):
    import tensorflow as tf

    from zoo.export import export_model, read_card

    keras.utils.set_random_seed(0)
    model = zoo.build("bayesian_mlp", input_shape=(3,), task="regression", hidden_units=(8,),
                      posterior_std_init=0.2)
    x = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
    path = export_model(model, tmp_path, input_name="features", mc_samples=64, target_scale=(100.0, 10.0))
    assert read_card(path)["outputs"] == ["mean", "std", "aleatoric_std", "epistemic_std"]
    served = tf.saved_model.load(str(path)).signatures["serving_default"](features=tf.constant(x))
    reference = u.predict_with_uncertainty(model, x, samples=1024)
    error = 4 * reference.epistemic_std * np.sqrt(1 / 64 + 1 / 1024)
    assert np.all(np.abs(served["mean"].numpy() - (100 + 10 * reference.mean)) < 10 * error + 1e-3)
    # The std parts are Monte Carlo estimates too (64 samples: a few % for the aleatoric
    # mean of variances, ~10% for a std of 64 means).
    np.testing.assert_allclose(served["aleatoric_std"].numpy(), 10 * reference.aleatoric_std, rtol=0.15)
    np.testing.assert_allclose(served["epistemic_std"].numpy(), 10 * reference.epistemic_std, rtol=0.35)


def test_a_gp_is_exact_one_pass_and_its_export_serves_mean_and_std(tmp_path):
    import tensorflow as tf

    from zoo.export import export_model

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2)).astype("float32"), rng.normal(size=30).astype("float32")
    model = zoo.build("gp_regressor", input_shape=(2,), num_train_examples=30)
    model.fit(x, y, epochs=5, verbose=0)
    result = u.predict_with_uncertainty(model, x[:7])
    direct = model.predict(x[:7], verbose=0)
    assert result.samples == 1 and result.mean.shape == (7, 1)
    np.testing.assert_allclose(np.hstack([result.mean, result.std]), direct, rtol=1e-6)
    path = export_model(model, tmp_path, input_name="features")
    served = tf.saved_model.load(str(path)).signatures["serving_default"](features=tf.constant(x[:7]))
    np.testing.assert_allclose(served["mean"].numpy()[:, 0], direct[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served["std"].numpy()[:, 0], direct[:, 1], rtol=1e-5, atol=1e-6)


def test_regression_and_ood_metrics_match_independent_implementations():
    from scipy.stats import norm
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=500), rng.uniform(0.5, 2.0, size=500)
    targets = mean + std * rng.normal(size=500)  # honest stds
    assert u.gaussian_negative_log_likelihood(mean, std, targets) == pytest.approx(
        -norm.logpdf(targets, mean, std).mean(), rel=1e-9)
    assert u.interval_coverage(mean, std, targets) == pytest.approx(0.95, abs=0.03)
    assert u.interval_coverage(mean, std / 3, targets) < 0.6  # overconfident stds are caught
    negative, positive = rng.normal(size=200), rng.normal(1.0, size=150).round(1)  # with ties
    labels = np.r_[np.zeros(200), np.ones(150)]
    assert u.auroc(negative, positive) == pytest.approx(roc_auc_score(labels, np.r_[negative, positive]), rel=1e-12)
    with pytest.raises(ValueError, match="at least one score in each group"):
        u.auroc([], [1.0])
