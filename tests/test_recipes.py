"""Every recipe, end to end, on TFDS' mocked data: train, evaluate, export, and the export
reproduces the trained model. Mocked splits ignore slicing, so nothing here depends on sizes."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from recipe_helpers import RECIPES, quick_args, recipe
from tensorflow_serving.apis import prediction_log_pb2

from zoo import data as zoo_data
from zoo import heads
from zoo.export import read_card

MC_CLASSIFIER = {"probabilities", "classes", "entropy"}
GP_CLASSIFIER = {"logits", "probabilities", "classes", "entropy"}  # log predictive probabilities as logits
EXPECTED_OUTPUTS = {"perceptron_iris": {"classes"}, "bayesian_lenet_mnist": MC_CLASSIFIER,
                    "bayesian_mlp_mnist": MC_CLASSIFIER, "lenet_mc_dropout_mnist": MC_CLASSIFIER,
                    "gp_wine_quality": {"mean", "std"}, "svgp_wine_quality": {"mean", "std"},
                    "gp_classifier_iris": GP_CLASSIFIER, "gp_classifier_mnist": GP_CLASSIFIER,
                    "bayesian_mlp_wine_quality": {"mean", "std", "aleatoric_std", "epistemic_std"},
                    "lstm_forecast": {"mean", "std", "aleatoric_std", "epistemic_std"}}
# Recipes whose datasets are all bundled, offline series: nothing to mock (mocked steps would
# have random dates, which the series loader rightly refuses), and a small SARIMA grid.
UNMOCKED = {"lstm_forecast": ["--set", "sarima_max_order=0"]}
CLASSIFIER_OUTPUTS = {"logits", "probabilities", "classes"}
REGRESSION_METRICS = {"rmse", "nll", "coverage_95", "mean_std"}


def test_every_required_recipe_exists():
    assert {"perceptron_iris", "mlp_mnist", "lenet_mnist", "lenet5_mnist", "lstm_imdb",
            "bayesian_lenet_mnist", "bayesian_mlp_mnist", "lenet_mc_dropout_mnist",
            "bayesian_mlp_wine_quality", "gp_wine_quality", "gp_classifier_iris", "gp_classifier_mnist",
            "svgp_wine_quality", "lstm_forecast"} <= set(RECIPES)


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_trains_evaluates_and_exports_on_mocked_tfds(name, tmp_path, capsys):
    module = recipe(name)
    with contextlib.nullcontext() if name in UNMOCKED else tfds.testing.mock_data(num_examples=48):
        result = module["main"](quick_args(tmp_path, *UNMOCKED.get(name, [])))
    out = capsys.readouterr().out
    config = module["Config"]()

    # The run printed its resolved config and a one-line summary, and wrote its files.
    assert f"Recipe {name}, config:" in out and f"model: {config.model}" in out
    assert result.summary in out and f"export: {result.export_path}" in result.summary
    run_dir = tmp_path / "run"
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["model"] == config.model and saved["epochs"] == 2 and saved["batch_size"] == 16
    assert result.history["epoch"] == [1.0, 2.0]  # counted from 1, as printed
    assert (run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((run_dir / "logs").rglob("events.out.tfevents.*"))  # TensorBoard
    assert not (run_dir / "backup").exists()  # BackupAndRestore cleans up after a finished run
    import zoo

    checkpoint = zoo.load_model(run_dir)  # the last epoch's model, whatever layers it uses
    for kept, trained in zip(checkpoint.get_weights(), result.model.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, trained)
    assert f"Loaded {run_dir / 'model.keras'}: {config.model} (Keras model, trained 2 epochs" in capsys.readouterr().out
    rebuilt = zoo.build(config.model, weights=run_dir, **json.loads((run_dir / "zoo_model.json").read_text())["config"])
    for kept, trained in zip(rebuilt.get_weights(), result.model.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, trained)
    metrics = json.loads((run_dir / "metrics.json").read_text())["test"]
    assert metrics == pytest.approx(result.metrics)
    regression = REGRESSION_METRICS <= set(metrics)
    assert regression or 0.0 <= metrics["accuracy"] <= 1.0

    # The export is version 1 of the model, with its card and the resolved config in it.
    assert result.export_path == tmp_path / "exports" / config.export_name / "1"
    card = read_card(result.export_path)
    assert card["recipe"] == name and card["config"] == saved and card["metrics"]["test"] == pytest.approx(result.metrics)
    assert card["dataset"]["name"] == config.dataset and card["libraries"]["tensorflow"] == tf.__version__

    # The SavedModel's serving_default gives the trained model's outputs on raw test inputs.
    examples = list(result.data.test.take(5))
    raw = [result.data.raw_input(x, y) if result.data.raw_input else x for x, y in examples]
    prepared = [result.data.preprocess(x, y)[0] for x, y in examples]
    expected = result.model.predict(tf.stack(prepared), verbose=0)
    serve = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    served = serve(**{result.data.input_name: tf.cast(tf.stack(raw), serve.structured_input_signature[1][result.data.input_name].dtype)})
    assert set(served) == EXPECTED_OUTPUTS.get(name, CLASSIFIER_OUTPUTS)
    from zoo import uncertainty

    if "entropy" in served:  # a predictive export: MC means (compared within Monte Carlo error), or a GP's
        reference = uncertainty.predict_with_uncertainty(result.model, tf.stack(prepared).numpy(), 256)
        error = 4 * reference.std * np.sqrt(1 / 32 + 1 / 256) + 1e-4
        assert np.all(np.abs(served["probabilities"].numpy() - reference.probabilities) < error)
        assert {"mc_accuracy", "nll", "brier", "ece"} <= set(metrics)
        if len(result.data.model_config["input_shape"]) == 3:  # images: noise tells how sure it is
            assert 0.0 <= metrics["ood_auroc"] <= 1.0
        assert (run_dir / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if heads.get(heads.head_of(result.model)).exact:  # one pass is the predictive: no samples
            assert card["mc_samples"] is None and "mc_samples" not in card["config"]
        else:
            assert card["config"]["mc_samples"] == 32 and card["mc_samples"] == 32
    elif regression:  # target units: the export undoes the training standardisation
        loc, scale = result.data.target_scale
        assert card["target_scale"] == pytest.approx([loc, scale])
        assert (run_dir / "predictions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        reference = uncertainty.predict_with_uncertainty(result.model, tf.stack(prepared).numpy(), 256)
        mc = "epistemic_std" in served
        error = 4 * reference.epistemic_std * np.sqrt(1 / 32 + 1 / 256) if mc else 0
        expected_mean = loc + scale * reference.mean
        assert np.all(np.abs(served["mean"].numpy() - expected_mean)
                      <= scale * (error + 1e-4) + 1e-4 * np.abs(expected_mean))
        if mc:  # the total std combines the two parts
            np.testing.assert_allclose(served["std"].numpy() ** 2, served["aleatoric_std"].numpy() ** 2
                                       + served["epistemic_std"].numpy() ** 2, rtol=1e-4)
        else:
            np.testing.assert_allclose(served["std"].numpy(), scale * reference.std, rtol=1e-4)
    elif "logits" in served:
        np.testing.assert_allclose(served["logits"].numpy(), expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(served["classes"].numpy(), expected.argmax(-1))
    else:
        np.testing.assert_array_equal(served["classes"].numpy(), (expected[:, 0] > 0.5).astype(int))

    # Warm-up requests are PredictionLogs for this model's signature and input name.
    records = list(tf.data.TFRecordDataset(str(result.export_path / "assets.extra" / "tf_serving_warmup_requests")))
    assert len(records) == 5  # 4 single examples, then all 4 as one batch
    log = prediction_log_pb2.PredictionLog.FromString(records[-1].numpy())
    assert log.predict_log.request.model_spec.signature_name == "serving_default"
    assert list(log.predict_log.request.inputs) == [result.data.input_name]
    assert log.predict_log.request.inputs[result.data.input_name].tensor_shape.dim[0].size == 4


def test_saved_model_cli_shows_the_serving_signature(tmp_path):
    with tfds.testing.mock_data(num_examples=32):
        result = recipe("lenet_mnist")["main"](quick_args(tmp_path, epochs=1))
    cli = Path(sys.executable).with_name("saved_model_cli")
    shown = subprocess.run([str(cli), "show", "--all", "--dir", str(result.export_path)],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "signature_def['serving_default']" in text
    assert "inputs['images'] tensor_info:" in text and "shape: (-1, 28, 28, 1)" in text
    for output in ("logits", "probabilities", "classes"):
        assert f"outputs['{output}'] tensor_info:" in text


def test_a_second_run_exports_the_next_version_and_keeps_the_first(tmp_path):
    main = recipe("perceptron_iris")["main"]
    with tfds.testing.mock_data(num_examples=32):
        first = main(quick_args(tmp_path, epochs=1))
        second = main(quick_args(tmp_path, epochs=1))
    assert (first.export_path.name, second.export_path.name) == ("1", "2")
    assert sorted(p.name for p in first.export_path.parent.iterdir()) == ["1", "2"]


def test_set_overrides_reach_the_model_and_the_saved_config(tmp_path):
    with tfds.testing.mock_data(num_examples=32):
        result = recipe("lenet_mnist")["main"](quick_args(
            tmp_path, "--set", "filters=4,8", "--set", "dropout=0", "--learning-rate", "0.01", epochs=1))
    assert result.model.get_layer("conv_1").filters == 4 and result.model.get_layer("conv_2").filters == 8
    assert float(result.model.optimizer.learning_rate) == pytest.approx(0.01)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model_config"] == {"filters": [4, 8], "dropout": 0} and saved["learning_rate"] == 0.01


def test_a_missing_dataset_fails_in_seconds_with_what_to_do(tmp_path, capsys):
    main = recipe("lenet_mnist")["main"]
    with pytest.raises(zoo_data.DatasetUnavailableError, match="--dataset digits"):
        # A proxy on a closed local port: a machine with no internet, even on one that has it.
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
            patch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
            main(quick_args(tmp_path, "--dataset", "mnist"))


def test_augmentation_shifts_and_rotates_images_but_keeps_labels():
    from zoo.training.tasks import image_augmenter

    images = np.zeros((8, 28, 28, 1), np.float32)
    images[:, 10:18, 12:16] = 255.0  # a bar in the middle
    labels = np.arange(8)
    augmented, same_labels = image_augmenter(seed=0)(tf.constant(images), tf.constant(labels))
    augmented = augmented.numpy()
    np.testing.assert_array_equal(same_labels.numpy(), labels)
    assert augmented.shape == images.shape and augmented.min() >= 0.0
    moved = [not np.allclose(a, b, atol=1.0) for a, b in zip(augmented, images)]
    assert sum(moved) >= 6  # almost every image changes
    mass = augmented.sum(axis=(1, 2, 3)) / images.sum(axis=(1, 2, 3))
    assert np.all((mass > 0.8) & (mass < 1.2))  # small distortions: the bar stays in the frame
