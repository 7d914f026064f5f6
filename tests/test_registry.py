"""`zoo.list_models`, `zoo.describe`, `zoo.build` and `@zoo.register_model`, errors included."""

from __future__ import annotations

import json

import keras
import pytest

import zoo
from zoo.registry import get_spec

BUILT_IN = ["lenet", "lenet5", "lstm_sequence", "lstm_text", "mlp", "mp_neuron", "perceptron"]


def test_list_models_is_sorted_and_filters_by_pattern_and_tag():
    names = zoo.list_models()
    assert names == sorted(names) and set(BUILT_IN) <= set(names)
    assert zoo.list_models("lenet*") == ["lenet", "lenet5"]
    assert zoo.list_models(tag="recurrent") == ["bayesian_lstm", "bayesian_lstm_text", "lstm_sequence", "lstm_text"]
    assert zoo.list_models("lstm_*", tag="text") == ["lstm_text"]
    assert zoo.list_models("resnet*") == []


def test_build_merges_overrides_and_returns_a_compiled_named_model():
    model = zoo.build("lenet", input_shape=(32, 32, 3), num_classes=100, dropout=0.3)
    assert isinstance(model, keras.Model) and model.name == "lenet"
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 100)
    assert model.compiled and model.optimizer is not None
    assert type(model.loss).__name__ == "SparseCategoricalCrossentropy"
    assert model.loss.get_config()["from_logits"] is True
    assert zoo.build("lenet", compile=False).compiled is False


def test_describe_returns_the_default_config_and_stored_sizes():
    card = zoo.describe("lenet")
    assert card.config == get_spec("lenet").defaults
    assert (card.trainable_params, card.non_trainable_params) == (61706, 0)
    assert card.input_shape == (28, 28, 1) and card.output_shape == (None, 10)
    as_dict = card.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["reference"]["url"].startswith("https://")


def test_unknown_model_lists_the_closest_names():
    with pytest.raises(zoo.UnknownModelError, match=r"'lenett'.*Did you mean 'lenet', 'lenet5'"):
        zoo.build("lenett")
    with pytest.raises(LookupError, match="Did you mean 'lstm_text', 'bayesian_lstm', 'bayesian_lstm_text', 'lstm_sequence'"):
        zoo.describe("lstm")


def test_unknown_override_key_is_a_type_error_listing_accepted_keys():
    with pytest.raises(TypeError, match=r"'lenet' got unexpected config key 'num_class'\. "
                                        r"Accepted keys: batch_norm, dense_units, dropout, "
                                        r"filters, input_shape, kernel_size, mc_dropout, num_classes"):
        zoo.build("lenet", num_class=5)


@pytest.mark.parametrize("name, overrides, message", [
    ("lenet", {"num_classes": 0}, r"`num_classes` must be a positive integer\. Received: num_classes=0"),
    ("mlp", {"hidden_units": [64, -1]}, r"`hidden_units` must be a list of positive integers\. "
                                        r"Received: hidden_units=\[64, -1\]"),
    ("mlp", {"dropout": 1.0}, r"`dropout` must be a number in \[0, 1\)\. Received: dropout=1\.0"),
    ("lenet", {"dropout": -0.1}, r"Received: dropout=-0\.1"),
    ("mlp", {"l2": -1e-4}, r"`l2` must be a number >= 0\. Received: l2=-0\.0001"),
    ("mlp", {"activation": "relux"}, r"`activation` must name a Keras activation .*'relux'"),
    ("lenet", {"input_shape": (28, 28)}, r"`input_shape` must have 3 dimensions for 'lenet' "
                                         r"\(lenet\)\. Received: input_shape=\(28, 28\)"),
    ("lstm_text", {"input_shape": (20, 8)}, r"must have 1 dimension for 'lstm_text'"),
    ("lstm_sequence", {"input_shape": (20,)}, r"must have 2 dimensions for 'lstm_sequence'"),
    ("perceptron", {"learning_rate": 0}, r"`learning_rate` must be a number > 0"),
    ("mp_neuron", {"weights": []}, r"`weights` must be a non-empty list of numbers"),
    ("lstm_text", {"bidirectional": "yes"}, r"`bidirectional` must be True or False"),
    ("lenet", {"num_classes": 2.5}, r"Received: num_classes=2\.5"),
])
def test_invalid_values_raise_value_error_naming_parameter_and_value(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        zoo.build(name, **overrides)


def test_user_registered_models_join_list_describe_and_build():
    assert "user_linear_regressor" in zoo.list_models(tag="user")
    card = zoo.describe("user_linear_regressor")  # no stored counts: counted by building
    assert (card.trainable_params, card.non_trainable_params) == (4, 0)
    model = zoo.build("user_linear_regressor", input_shape=(5,))
    assert model.name == "user_linear_regressor" and model.count_params() == 6


def test_registering_a_taken_name_needs_overwrite():
    def lenet(input_shape=(2,)):
        raise AssertionError("never built")

    with pytest.raises(ValueError, match="'lenet' is already registered.*overwrite=True"):
        zoo.register_model(family="x", task="regression", summary="x")(lenet)


def test_a_temporary_entry_can_be_unregistered_and_registered_again():
    def temp_linear(input_shape=(2,)):
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, keras.layers.Dense(1)(inputs))

    register = zoo.register_model("temp_linear", family="x", task="regression", summary="x", head="values")
    register(temp_linear)
    assert zoo.build("temp_linear", compile=False).count_params() == 3
    zoo.registry.unregister_model("temp_linear")
    assert "temp_linear" not in zoo.list_models()
    with pytest.raises(zoo.UnknownModelError, match="No model named 'temp_linear'"):
        zoo.build("temp_linear")
    register(temp_linear)  # the name is free again: no overwrite=True needed
    zoo.registry.unregister_model("temp_linear")
    with pytest.raises(zoo.UnknownModelError, match="No model named 'temp_linear'"):
        zoo.registry.unregister_model("temp_linear")


def test_an_unknown_head_is_refused_at_registration():
    with pytest.raises(ValueError, match=r"`head` must be one of logits, .*values, or ensemble:<one of them>. Received: head='scores'"):
        zoo.register_model("temp_bad_head", family="x", task="regression", summary="x",
                           head="scores")(lambda input_shape=(2,): None)
    assert "temp_bad_head" not in zoo.list_models()


def test_builder_parameters_need_defaults_and_tasks_are_checked():
    def no_default(units):
        return None

    with pytest.raises(TypeError, match="'units' without a default"):
        zoo.register_model("temp_no_default", family="x", task="regression", summary="x")(no_default)
    with pytest.raises(ValueError, match="`task` must be one of"):
        zoo.register_model("temp_bad_task", family="x", task="clustering", summary="x")
    with pytest.raises(ValueError, match=r"`backends` must be a non-empty list drawn from tensorflow, jax, "
                                         r"torch. Received: backends='tensorflow'"):
        zoo.register_model("temp_bad_backends", family="x", task="regression", summary="x",
                           backends="tensorflow")
    assert "temp_no_default" not in zoo.list_models()


def test_tfp_based_entries_say_they_need_tensorflow():
    tfp_based = [n for n in zoo.list_models() if zoo.describe(n).backends == ("tensorflow",)]
    assert tfp_based == ["bayesian_lenet", "bayesian_lstm", "bayesian_lstm_text", "bayesian_mlp", "gp_classifier",
                         "gp_regressor", "svgp_regressor"]
    assert zoo.describe("lenet").backends == ("tensorflow", "jax")  # what the contract runs them under


def test_recurrent_and_convolutional_stacks_need_at_least_one_layer():
    with pytest.raises(ValueError, match=r"`lstm_units` must be a non-empty list .*Received: lstm_units=\[\]"):
        zoo.build("lstm_text", lstm_units=[])
    with pytest.raises(ValueError, match=r"Received: lstm_units=\(\)"):
        zoo.build("lstm_sequence", lstm_units=())
