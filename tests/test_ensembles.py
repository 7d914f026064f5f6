"""Deep ensembles (`zoo.build(name, ensemble_size=N)`): each member trains on its own loss
alone, one pass gives the exact mixture, exports serve it and the members, recipes run them.
The catalog contract (test_contract.py) covers every entry that can be ensembled."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import example_batch
from recipe_helpers import quick_args, recipe

import zoo
from zoo import heads
from zoo.export import export_model
from zoo.registry import get_spec
from zoo.uncertainty import predict_with_uncertainty


def _members(model) -> list:
    return [layer for layer in model.layers if isinstance(layer, keras.Model)]


def _entropy(p):
    return -np.sum(p * np.log(p + 1e-12), axis=-1)


def test_a_members_gradient_is_that_of_its_own_loss_alone():
    model = zoo.build("lenet", ensemble_size=3, dropout=0.0)
    x = example_batch("lenet", get_spec("lenet").resolve_config(), 8)
    y = np.arange(8) % 10
    member = _members(model)[1]
    with tf.GradientTape(persistent=True) as tape:
        ensemble_loss = model.loss(y, model(x))
        own_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, member(x))
    ensemble_grads = tape.gradient(ensemble_loss, member.trainable_variables)
    own_grads = tape.gradient(own_loss, member.trainable_variables)
    for ours, theirs in zip(ensemble_grads, own_grads, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-7)


def test_one_pass_gives_the_exact_mixture_of_the_members():
    model = zoo.build("mlp", ensemble_size=4, input_shape=(5,), num_classes=3, hidden_units=(8,))
    x = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    result = predict_with_uncertainty(model, x, samples=32)
    assert result.samples == 1  # deterministic members: no Monte Carlo
    members = tf.nn.softmax(model.predict(x, verbose=0)).numpy()  # (6, 4, 3)
    mean = members.mean(axis=1)
    np.testing.assert_allclose(result.probabilities, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.entropy, _entropy(mean), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(result.expected_entropy, _entropy(members).mean(axis=1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(result.mutual_information, _entropy(mean) - _entropy(members).mean(axis=1),
                               rtol=1e-3, atol=1e-5)
    assert (result.mutual_information > 0).all()  # independently initialised members disagree


def test_normal_members_combine_as_a_uniform_mixture():
    model = zoo.build("lstm_sequence", ensemble_size=3, distribution="normal", input_shape=(5, 2))
    x = np.random.default_rng(1).normal(size=(7, 5, 2)).astype("float32")
    result = predict_with_uncertainty(model, x)
    raw = model.predict(x, verbose=0)  # (7, 3, 2): mean and raw scale per member
    means, stds = raw[..., 0], np.log1p(np.exp(raw[..., 1])) + heads.MIN_STD
    mixture_mean = means.mean(axis=1)
    variance = (stds**2).mean(axis=1) + means.var(axis=1)
    assert result.samples == 1
    np.testing.assert_allclose(result.mean[:, 0], mixture_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.std[:, 0], np.sqrt(variance), rtol=1e-4)
    np.testing.assert_allclose(result.epistemic_std[:, 0], means.std(axis=1), rtol=1e-4, atol=1e-6)


def test_stochastic_members_are_sampled_as_passes_times_members():
    model = zoo.build("lenet", ensemble_size=2, mc_dropout=True)
    x = example_batch("lenet", get_spec("lenet").resolve_config(), 4)
    first, second = (predict_with_uncertainty(model, x, samples=8) for _ in range(2))
    assert first.samples == 8
    assert not np.allclose(first.probabilities, second.probabilities)  # Monte Carlo, not one pass


def test_the_export_serves_the_mixture_and_each_member_in_target_units(tmp_path):
    classifier = zoo.build("lenet", ensemble_size=3)
    x = example_batch("lenet", get_spec("lenet").resolve_config(), 5)
    path = export_model(classifier, tmp_path, input_name="images")
    loaded = tf.saved_model.load(str(path))
    assert set(loaded.signatures) == {"serving_default", "members"}
    served = {k: v.numpy() for k, v in loaded.signatures["serving_default"](images=tf.constant(x)).items()}
    members = {k: v.numpy() for k, v in loaded.signatures["members"](images=tf.constant(x)).items()}
    expected = predict_with_uncertainty(classifier, x)
    assert set(served) == {"probabilities", "classes", "entropy", "mutual_information"}
    np.testing.assert_allclose(served["probabilities"], expected.probabilities, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served["mutual_information"], expected.mutual_information, rtol=1e-3, atol=1e-5)
    np.testing.assert_array_equal(served["classes"], expected.classes)
    np.testing.assert_allclose(members["logits"], classifier.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert members["probabilities"].shape == (5, 3, 10) and members["classes"].shape == (5, 3)
    card = json.loads((path / "assets.extra" / "model_card.json").read_text())
    assert card["head"] == "ensemble:logits" and card["extra_signatures"] == {"members": ["logits", "probabilities",
                                                                                          "classes"]}

    regressor = zoo.build("mlp", ensemble_size=2, input_shape=(3,), num_classes=1, output_activation="linear")
    assert heads.head_of(regressor) == "ensemble:values"
    x = np.random.default_rng(2).normal(size=(4, 3)).astype("float32")
    path = export_model(regressor, tmp_path, target_scale=(100.0, 10.0))
    loaded = tf.saved_model.load(str(path))
    raw = regressor.predict(x, verbose=0)[..., 0]  # (4, 2)
    served = loaded.signatures["serving_default"](inputs=tf.constant(x))
    members = loaded.signatures["members"](inputs=tf.constant(x))
    np.testing.assert_allclose(members["predictions"].numpy()[..., 0], 100 + 10 * raw, rtol=1e-5)
    np.testing.assert_allclose(served["mean"].numpy()[:, 0], 100 + 10 * raw.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(served["std"].numpy()[:, 0], 10 * raw.std(axis=1), rtol=1e-4, atol=1e-5)


def test_entries_that_cannot_be_ensembled_say_why():
    with pytest.raises(ValueError, match="'mp_neuron' cannot be an ensemble .*fixed by its config"):
        zoo.build("mp_neuron", ensemble_size=2)
    with pytest.raises(ValueError, match="`ensemble_size` must be an integer >= 1.*Received: ensemble_size=0"):
        zoo.build("lenet", ensemble_size=0)
    assert zoo.build("lenet", ensemble_size=1).output_shape == (None, 10)  # one model, no ensemble
    with pytest.raises(ValueError, match="or ensemble:<one of them>. Received: head='ensemble:nope'"):
        heads.get("ensemble:nope")


def test_a_recipe_trains_an_ensemble_exports_it_beside_the_single_model_and_reloads_it(tmp_path, capsys):
    module = recipe("lenet_mnist")
    result = module["main"](quick_args(tmp_path, "--dataset", "digits", "--set", "ensemble_size=2",
                                       "--set", "train_split=train[:256]", "--set", "validation_split=none",
                                       epochs=1, batch_size=64))
    assert result.export_path == tmp_path / "exports" / "lenet_ensemble2" / "1"
    assert ("(serving_default: images -> classes, entropy, mutual_information, probabilities; "
            "members: images -> classes, logits, probabilities)") in capsys.readouterr().out
    test = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    assert {"accuracy", "nll", "brier", "ece", "ood_auroc"} <= set(test)
    assert all(np.isfinite(value) for value in test.values())
    card = json.loads((result.export_path / "assets.extra" / "model_card.json").read_text())
    assert card["config"]["model_config"] == {"ensemble_size": 2} and card["head"] == "ensemble:logits"
    # The run records the ensemble: its weights load only into an ensemble of the same size.
    with pytest.raises(ValueError, match="ensemble_size: 2 in the run, None here"):
        zoo.build("lenet", weights=tmp_path / "run")
    rebuilt = zoo.build("lenet", weights=tmp_path / "run", ensemble_size=2)
    x = example_batch("lenet", get_spec("lenet").resolve_config(), 3)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), result.model.predict(x, verbose=0), rtol=1e-6)
    assert heads.head_of(zoo.load_model(tmp_path / "run", verbose=False)) == "ensemble:logits"


def test_set_ensemble_size_on_a_recipe_whose_model_cannot_be_ensembled_exits_with_why(capsys):
    from zoo.training import parse_config

    config_class = recipe("gp_wine_quality")["Config"]
    with pytest.raises(SystemExit) as exit_info:
        parse_config(config_class, ["--dataset", "diabetes", "--set", "ensemble_size=3"])
    assert exit_info.value.code == 2
    assert "--set ensemble_size: 'gp_regressor' cannot be an ensemble: an exact GP" in capsys.readouterr().err
