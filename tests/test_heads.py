"""`zoo.heads`: each head's serving outputs and sample summary, and a new kind of head that
export, uncertainty and the catalog handle with no change outside heads.py."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
import zoo.layers
from zoo import heads, uncertainty
from zoo.export import export_model, read_card


def test_a_normal_heads_samples_make_a_mixture_split_into_its_two_parts():
    # Two samples: N(0, 1) and N(2, 1). The mixture's mean is 1; its variance is the mean of the
    # variances (1, aleatoric) plus the variance of the means (1, epistemic).
    raw_scale = float(np.log(np.expm1(1.0 - heads.MIN_STD)))  # softplus(raw) + MIN_STD == 1
    samples = np.array([[[0.0, raw_scale]], [[2.0, raw_scale]]], "float32")
    summary = {k: np.asarray(v) for k, v in heads.get("normal").summarize(samples).items()}
    np.testing.assert_allclose(summary["mean"], [[1.0]], rtol=1e-6)
    np.testing.assert_allclose(summary["aleatoric_std"], [[1.0]], rtol=1e-5)
    np.testing.assert_allclose(summary["epistemic_std"], [[1.0]], rtol=1e-5)
    np.testing.assert_allclose(summary["std"], [[np.sqrt(2.0)]], rtol=1e-5)
    # In target units: the location shifts and scales, the stds only scale.
    scaled = heads.get("normal").in_target_units(summary, loc=10.0, scale=3.0)
    np.testing.assert_allclose(np.asarray(scaled["mean"]), [[13.0]], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(scaled["std"]), [[3 * np.sqrt(2.0)]], rtol=1e-5)


def test_classifier_samples_that_disagree_carry_mutual_information():
    confident_a = np.log(np.array([[0.98, 0.01, 0.01]], "float32"))
    confident_b = np.log(np.array([[0.01, 0.98, 0.01]], "float32"))
    agree = heads.get("logits").summarize(np.stack([confident_a, confident_a]))
    disagree = heads.get("logits").summarize(np.stack([confident_a, confident_b]))
    assert float(agree["mutual_information"][0]) < 1e-5
    # Half the mass on each of two classes: entropy near log 2, almost all of it epistemic.
    assert float(disagree["entropy"][0]) == pytest.approx(np.log(2), abs=0.15)
    assert float(disagree["mutual_information"][0]) > 0.5
    np.testing.assert_allclose(np.asarray(disagree["probabilities"]).sum(-1), 1.0, rtol=1e-6)


def test_every_heads_outputs_are_what_it_serves():
    raw = {"logits": tf.ones((2, 3)), "binary_logits": tf.ones((2, 1)), "probabilities": tf.fill((2, 3), 1 / 3),
           "classes": tf.ones((2, 1)), "normal": tf.ones((2, 2)), "mean_std": tf.ones((2, 2)),
           "values": tf.ones((2, 1)), "gp_latent": tf.ones((2, 6)), "gp_robustmax": tf.ones((2, 6))}
    for name in heads.HEADS:
        head = heads.get(name)
        assert tuple(head.serve(raw[name])) == head.outputs, name
        assert set(head.sample_outputs) <= set(head.outputs) | {"entropy", "aleatoric_std", "epistemic_std"}


class LogProbabilities(heads.Classifier):
    """A model whose last layer is log_softmax: the kind of head a new family might bring."""

    def probabilities(self, raw):
        return tf.exp(raw)


@pytest.fixture
def log_softmax_entry():
    head = heads.register(LogProbabilities("log_probabilities", "log class probabilities",
                                           ("probabilities", "classes"), "classification",
                                           sample_outputs=("probabilities", "classes", "entropy")))

    @zoo.register_model(family="test", task="tabular classification", summary="x",
                        output_shape=(None, "num_classes"), head=head.name)
    def temp_log_softmax_mlp(input_shape=(4,), num_classes=3):
        inputs = keras.Input(input_shape)
        hidden = zoo.layers.MCDropout(0.5)(keras.layers.Dense(16, activation="relu")(inputs))
        outputs = keras.layers.Activation("log_softmax")(keras.layers.Dense(num_classes)(hidden))
        return keras.Model(inputs, outputs)

    yield "temp_log_softmax_mlp"
    zoo.registry.unregister_model("temp_log_softmax_mlp")
    heads.unregister(head.name)
    assert "log_probabilities" not in heads.names()


def test_a_new_head_is_exported_and_sampled_with_no_change_outside_heads(log_softmax_entry, tmp_path):
    keras.utils.set_random_seed(0)
    model = zoo.build(log_softmax_entry, compile=False)
    assert zoo.describe(log_softmax_entry).head == "log_probabilities"
    assert heads.head_of(model) == "log_probabilities"
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")

    path = export_model(model, tmp_path, mc_samples=16)
    assert read_card(path)["head"] == "log_probabilities"
    assert read_card(path)["outputs"] == ["probabilities", "classes", "entropy"]
    served = tf.saved_model.load(str(path)).signatures["serving_default"](inputs=tf.constant(x))
    np.testing.assert_allclose(served["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)

    result = uncertainty.predict_with_uncertainty(model, x, samples=64)
    np.testing.assert_allclose(result.probabilities.sum(-1), 1.0, rtol=1e-5)
    assert np.all(result.mutual_information > 0)  # the dropout masks disagree
    assert result.probabilities.shape == (5, 3) and result.entropy.shape == (5,)


def test_heads_are_registered_once_and_built_ins_stay():
    with pytest.raises(ValueError, match="A head named 'logits' is already registered"):
        heads.register(heads.get("logits"))
    with pytest.raises(ValueError, match="'normal' is a built-in head"):
        heads.unregister("normal")
    with pytest.raises(TypeError, match="must be a zoo.heads.Head"):
        heads.register("log_probabilities")
