"""The README's main command for real: `lenet_mnist --dataset digits` with its defaults trains
to at least 98% test accuracy, and its export, loaded with `tf.saved_model.load`, scores the
same on the test split."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf
from recipe_helpers import RECIPES_DIR
from test_readme import MAIN_RECIPE

from zoo import data
from zoo.export import read_card


def test_lenet_on_digits_with_defaults_reaches_98_percent_and_its_export_scores_the_same(tmp_path):
    command = MAIN_RECIPE.replace("python recipes/", f"{sys.executable} {RECIPES_DIR}/").split()
    done = subprocess.run([*command, "--data-dir", str(tmp_path / "data")], cwd=tmp_path,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Exported SavedModel version 1 to saved_models/lenet/1/" in done.stdout
    assert "Epoch 60/60" in done.stdout  # the digits defaults: 60 epochs
    # Keras' progress bar (1,293 images / batch 128 = 11 steps) never counts past its end,
    # whatever steps_per_execution is.
    steps = [int(n) for n in re.findall(r"(?<![\d/])(\d+)/11(?!\d)", done.stdout)]
    assert steps and max(steps) == 11

    metrics = json.loads((tmp_path / "runs" / "lenet-digits" / "metrics.json").read_text())["test"]
    assert metrics["accuracy"] >= 0.98

    export = tmp_path / "saved_models" / "lenet" / "1"
    serve = tf.saved_model.load(str(export)).signatures["serving_default"]
    (test,), _ = data.load("digits", ["test"], data_dir=str(tmp_path / "data"))
    images, labels = (np.stack(a) for a in zip(*[(x.numpy(), y.numpy()) for x, y in test]))
    classes = serve(images=tf.constant(images, tf.float32))["classes"].numpy()
    exported_accuracy = float(np.mean(classes == labels))
    assert len(labels) == 360
    assert abs(exported_accuracy - metrics["accuracy"]) < 1e-6
    assert read_card(export)["metrics"]["test"]["accuracy"] == metrics["accuracy"]
