"""Recipe configs from the command line, and strategy selection."""

from __future__ import annotations

import dataclasses

import pytest
import tensorflow as tf

from zoo.training import RecipeConfig, parse_config, select_strategy


@dataclasses.dataclass
class Config(RecipeConfig):
    model: str = "lenet"
    dataset: str = "mnist"
    epochs: int = 12
    augment: bool = False
    dataset_defaults = {"digits": {"epochs": 60, "learning_rate": 2e-3}}


def test_flags_override_defaults_and_the_model_dir_follows_model_and_dataset():
    config = parse_config(Config, ["--epochs", "3", "--batch-size", "64", "--learning-rate", "0.01",
                                   "--strategy", "mirrored", "--seed", "7"])
    assert (config.epochs, config.batch_size, config.learning_rate, config.strategy, config.seed) == (
        3, 64, 0.01, "mirrored", 7)
    assert config.model_dir == "runs/lenet-mnist" and config.export_dir == "saved_models"


def test_set_reaches_fields_with_their_types_and_model_keys_go_to_model_config():
    config = parse_config(Config, ["--set", "augment=true", "--set", "steps_per_execution=4",
                                   "--set", "learning_rate=1", "--set", "filters=8,16",
                                   "--set", "dropout=0.1", "--set", "validation_split=none"])
    assert config.augment is True and config.steps_per_execution == 4
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config.validation_split is None
    assert config.model_config == {"filters": (8, 16), "dropout": 0.1}


def test_dataset_defaults_apply_only_where_the_command_line_is_silent():
    digits = parse_config(Config, ["--dataset", "digits"])
    assert (digits.epochs, digits.learning_rate) == (60, 2e-3)
    chosen = parse_config(Config, ["--dataset", "digits", "--epochs", "5"])
    assert (chosen.epochs, chosen.learning_rate) == (5, 2e-3)
    assert parse_config(Config, []).epochs == 12


@pytest.mark.parametrize("argv, message", [
    (["--set", "filterz=8"], "--set filterz: not a field of this recipe nor a config key of model 'lenet'"),
    (["--set", "epochs=many"], "--set epochs: expected int. Received: 'many'"),
    (["--set", "noequals"], "--set expects key=value. Received: 'noequals'"),
    (["--epochs", "0"], "`epochs` must be an integer >= 1. Received: epochs=0"),
    (["--set", "precision=float8"], "`precision` must be one of float32, mixed_float16, mixed_bfloat16"),
    (["--strategy", "tpu"], "argument --strategy: invalid choice: 'tpu'"),
    (["--set", "progress=bars"], "`progress` must be one of batches, epochs, none. Received: progress='bars'"),
    (["--set", "filters=8"], "--set: `filters` must be a list of positive integers. Received: filters=8"),
])
def test_bad_flags_exit_2_with_a_message_naming_the_key(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_config(Config, argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_resolved_config_is_json_ready():
    config = parse_config(Config, ["--set", "filters=8,16"])
    assert config.to_dict()["model_config"] == {"filters": [8, 16]}
    assert "  epochs: 12" in config.summary().splitlines()


def test_auto_on_a_cpu_machine_is_the_default_strategy(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert select_strategy("auto") is tf.distribute.get_strategy()
    assert isinstance(select_strategy("one_device"), tf.distribute.OneDeviceStrategy)
    mirrored = select_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == len(tf.config.list_logical_devices("CPU"))


def test_an_unknown_strategy_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="`strategy` must be one of auto, default, one_device, mirrored, multi_worker. Received: strategy='tpu'"):
        select_strategy("tpu")
