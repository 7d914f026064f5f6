"""The contract every catalog entry meets, parametrized over `zoo.list_models()`.

A newly registered model is tested here with no new test code. Backend-neutral: the same
file runs under KERAS_BACKEND=jax for the entries whose `backends` include JAX (see
test_jax_backend.py); the TFP-based ones are TensorFlow-only.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import zoo
from zoo import complexity, heads
from zoo.registry import get_spec, resolve_template
from conftest import example_batch, example_labels

ENTRIES = [name for name in zoo.list_models() if keras.backend.backend() in get_spec(name).backends]
BATCH = 4


def _outputs(model, x) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False))


def _build(name):
    model = zoo.build(name)
    return model, get_spec(name).resolve_config()


@pytest.mark.parametrize("name", ENTRIES)
def test_forward_pass_gives_documented_shape_and_finite_values(name):
    model, config = _build(name)
    out = _outputs(model, example_batch(name, config, BATCH))
    expected = tuple(BATCH if d is None else d for d in resolve_template(get_spec(name).output_shape, config))
    assert model.name == name
    assert out.shape == expected
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", ENTRIES)
def test_one_training_step_updates_every_trainable_weight(name):
    model, config = _build(name)
    x, y = example_batch(name, config, BATCH), example_labels(name, model, BATCH)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.weights]
    logs = model.train_on_batch(x, y, return_dict=True)
    assert math.isfinite(logs["loss"])
    after = {id(w): keras.ops.convert_to_numpy(w) for w in model.weights}
    trainable = {id(w) for w in model.trainable_weights}
    for weight, old in zip(model.weights, before):
        changed = not np.array_equal(old, after[id(weight)])
        if id(weight) in trainable:
            # Adam moves a weight iff its gradient is non-zero: this is "receives a gradient".
            assert changed, f"{weight.path} received no gradient"
        elif not get_spec(name).params[0]:
            assert not changed, f"{weight.path} of an untrainable model changed"


@pytest.mark.parametrize("name", ENTRIES)
def test_get_config_from_config_round_trips(name):
    model, config = _build(name)
    rebuilt = type(model).from_config(model.get_config())  # Functional, or the model's own class
    assert rebuilt.get_config() == model.get_config()
    rebuilt.set_weights(model.get_weights())
    x = example_batch(name, config, BATCH)
    np.testing.assert_allclose(_outputs(rebuilt, x), _outputs(model, x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ENTRIES)
def test_keras_file_save_and_load_gives_identical_outputs(name, tmp_path):
    model, config = _build(name)
    x, y = example_batch(name, config, BATCH), example_labels(name, model, BATCH)
    model.train_on_batch(x, y)  # saved weights must be trained ones, not initial values
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_outputs(loaded, x), _outputs(model, x), rtol=1e-6, atol=1e-6)
    # Compiled state survives too, so a loaded model keeps training with the same loss.
    assert loaded.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx(
        model.evaluate(x, y, verbose=0, return_dict=True)["loss"], rel=1e-5)


@pytest.mark.parametrize("name", [n for n in ENTRIES if get_spec(n).deterministic])
def test_saved_model_export_gives_identical_outputs(name, tmp_path):
    import tensorflow as tf

    model, config = _build(name)
    x = example_batch(name, config, BATCH)
    model.export(str(tmp_path / name), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / name))
    served = loaded.signatures["serving_default"](tf.constant(x))
    (output,) = served.values()
    np.testing.assert_allclose(output.numpy(), _outputs(model, x), rtol=1e-5, atol=1e-5)


# Configs that change an entry's head (its output units, activation or task).
HEAD_VARIANTS = {
    "mlp": [{"num_classes": 1}, {"output_activation": "softmax"},
            {"output_activation": "sigmoid", "num_classes": 1}, {"output_activation": "relu"}],
    "lenet": [{"num_classes": 1}],
    "lstm_sequence": [{"task": "classification", "num_outputs": 3}, {"task": "classification", "num_outputs": 1}]
    # The Normal head trains with TFP's Normal: TensorFlow only (its builder says so on JAX).
    + ([{"distribution": "normal", "num_outputs": 2}] if keras.backend.backend() == "tensorflow" else []),
    "bayesian_mlp": [{"task": "regression", "num_outputs": 2}],
    "bayesian_lstm": [{"task": "classification", "num_outputs": 3}, {"task": "classification", "num_outputs": 1}],
}


@pytest.mark.parametrize("name", ENTRIES)
def test_the_declared_head_is_the_one_the_compiled_loss_trains(name):
    spec = get_spec(name)
    assert spec.head is not None, f"{name}: declare what it outputs with register_model(head=...)"
    assert zoo.describe(name).head == spec.head_for(spec.resolve_config())
    for overrides in [{}] + HEAD_VARIANTS.get(name, []):
        declared = spec.head_for(spec.resolve_config(overrides))
        compiled = zoo.build(name, **overrides)
        assert heads.head_of(compiled) == declared == heads.infer_head(compiled), (name, overrides)
        # Without a loss to infer from, the model still knows its head (and exports by it).
        assert heads.head_of(zoo.build(name, compile=False, **overrides)) == declared, (name, overrides)
        assert heads.get(declared).targets(compiled.output_shape[-1]) >= 1


@pytest.mark.parametrize("name", ENTRIES)
def test_card_parameter_counts_match_the_built_model(name):
    model, _ = _build(name)
    card = zoo.describe(name)
    assert (card.trainable_params, card.non_trainable_params) == complexity.count_params(model), (
        f"{name}: update params= in its register_model call to {complexity.count_params(model)}")
    assert card.total_params == model.count_params()


ENSEMBLE_ENTRIES = [name for name in ENTRIES if not get_spec(name).no_ensemble]


def _member_loss(model):
    """The loss each member trains on (a Keras loss, or the function a loss name stands for)."""
    member = model.loss.member
    return member if isinstance(member, keras.losses.Loss) else keras.losses.get(member)


@pytest.mark.parametrize("name", ENSEMBLE_ENTRIES)
def test_an_ensemble_of_two_members_builds_trains_each_on_its_own_loss_and_saves(name, tmp_path):
    spec = get_spec(name)
    config = spec.resolve_config()
    model = zoo.build(name, ensemble_size=2)
    x, y = example_batch(name, config, BATCH), example_labels(name, model, BATCH)
    single = tuple(BATCH if d is None else d for d in resolve_template(spec.output_shape, config))
    out = _outputs(model, x)
    assert out.shape == (single[0], 2, *single[1:]) and np.isfinite(out).all()
    assert heads.head_of(model) == heads.ensemble_of(spec.head_for(config)) == zoo.describe(name, ensemble_size=2).head
    # The card counts N members; the members are the entry's own model, initialised independently.
    card, one = zoo.describe(name, ensemble_size=2), zoo.describe(name)
    assert (card.trainable_params, card.non_trainable_params) == complexity.count_params(model) == (
        2 * one.trainable_params, 2 * one.non_trainable_params)
    members = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    assert len(members) == 2
    first, second = (keras.ops.convert_to_numpy(m.trainable_weights[0]) for m in members)
    assert not np.allclose(first, second), "the members start from the same weights"
    if spec.deterministic:
        for i, member in enumerate(members):
            np.testing.assert_allclose(_outputs(member, x), out[:, i], rtol=1e-6, atol=1e-6)
        # The loss is the sum of the members' own losses.
        own = sum(float(np.mean(keras.ops.convert_to_numpy(_member_loss(model)(y, out[:, i])))) for i in range(2))
        assert model.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx(own, rel=1e-5)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    assert math.isfinite(model.train_on_batch(x, y, return_dict=True)["loss"])
    for weight, old in zip(model.trainable_weights, before):
        assert not np.array_equal(old, keras.ops.convert_to_numpy(weight)), f"{weight.path} received no gradient"
    path = tmp_path / f"{name}_ensemble.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert heads.head_of(loaded) == heads.head_of(model)
    if spec.deterministic:
        np.testing.assert_allclose(_outputs(loaded, x), _outputs(model, x), rtol=1e-6, atol=1e-6)
