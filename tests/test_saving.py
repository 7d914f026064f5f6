"""Trained models load back (`zoo.load_model`, `zoo.build(weights=...)`), from real runs on the
bundled data: in a fresh interpreter, with no `import zoo.layers` first."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from recipe_helpers import quick_args, recipe

import zoo


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A perceptron and an exact GP (a TFP model class) trained on the bundled data."""
    root = tmp_path_factory.mktemp("runs")
    perceptron = recipe("perceptron_iris")["main"](
        quick_args(root / "perceptron", "--dataset", "iris_offline", epochs=3, batch_size=1))
    gp = recipe("gp_wine_quality")["main"](quick_args(root / "gp", "--dataset", "diabetes", epochs=5))
    return perceptron, gp


def test_a_run_directory_and_its_keras_file_load_in_a_fresh_interpreter(runs):
    _, gp = runs
    features = np.asarray([x for x, _ in gp.data.test.take(3).as_numpy_iterator()], np.float32)
    expected = gp.model.predict(features, verbose=0)
    for path in (gp.model_dir, gp.model_dir / "model.keras"):
        code = ("import sys, json, numpy as np, zoo\n"
                "model = zoo.load_model(sys.argv[1])\n"
                "print(json.dumps(model.predict(np.asarray(json.loads(sys.argv[2]), np.float32), verbose=0).tolist()))")
        done = subprocess.run([sys.executable, "-c", code, str(path), json.dumps(features.tolist())],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        said, answer = done.stdout.strip().splitlines()[-2:]
        assert said.startswith(f"Loaded {gp.model_dir / 'model.keras'}: gp_regressor (Keras model, trained 5 epochs "
                               "on diabetes; test ")
        np.testing.assert_allclose(json.loads(answer), expected, rtol=1e-5, atol=1e-5)


def test_a_loaded_run_keeps_the_head_it_was_built_with_even_uncompiled(runs):
    perceptron, gp = runs
    assert json.loads((perceptron.model_dir / "zoo_model.json").read_text())["head"] == "classes"
    for run, head in ((perceptron, "classes"), (gp, "mean_std")):
        model = zoo.load_model(run.model_dir, compile=False, verbose=False)
        assert model.loss is None  # nothing to infer a head from: the run's record says it
        assert zoo.heads.head_of(model) == head


def test_an_export_loads_as_a_callable_of_named_outputs(runs, capsys):
    perceptron, _ = runs
    features, _ = next(perceptron.data.test.batch(8).as_numpy_iterator())
    for path in (perceptron.export_path, perceptron.export_path.parent):  # a version, or the newest
        served = zoo.load_model(path)
        assert isinstance(served, zoo.ExportedModel) and served.outputs == ["classes"]
        assert f"Loaded {perceptron.export_path}: perceptron version 1 (exported SavedModel, outputs classes" \
            in capsys.readouterr().out
        np.testing.assert_array_equal(served(features)["classes"].ravel(),
                                      perceptron.model.predict(features, verbose=0).ravel())
    with pytest.raises(ValueError, match="has no input 'pixels'. Inputs: features"):
        served({"pixels": features})


def test_build_with_weights_loads_a_run_and_names_every_config_difference(runs, tmp_path):
    perceptron, _ = runs
    rebuilt = zoo.build("perceptron", weights=perceptron.model_dir, input_shape=(4,))
    for got, want in zip(rebuilt.get_weights(), perceptron.model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"input_shape: \[4\] in the run, \[2\] here\. Build it as the run did: "
                                         r"zoo.build\('perceptron', weights=.*, input_shape=\[4\]\)"):
        zoo.build("perceptron", weights=perceptron.model_dir)
    with pytest.raises(ValueError, match="belong to the catalog model 'perceptron', not 'mlp'"):
        zoo.build("mlp", weights=perceptron.model_dir)
    # A bare weights file (no run record beside it): Keras' own check, with the file named.
    perceptron.model.save_weights(tmp_path / "p.weights.h5")
    again = zoo.build("perceptron", weights=tmp_path / "p.weights.h5", input_shape=(4,))
    np.testing.assert_array_equal(again.get_weights()[0], perceptron.model.get_weights()[0])
    with pytest.raises(ValueError, match=r"do not fit zoo.build\('perceptron', \.\.\.\)"):
        zoo.build("perceptron", weights=tmp_path / "p.weights.h5", input_shape=(3,))


def test_loading_says_what_was_expected_at_a_wrong_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="Expected a run directory"):
        zoo.load_model(tmp_path / "missing")
    with pytest.raises(ValueError, match="neither a run directory"):
        zoo.load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist. Expected a run directory"):
        zoo.build("lenet", weights=tmp_path / "nothing.keras")
