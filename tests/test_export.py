"""zoo.export: TF Serving's layout, integer versions, atomic writes, heads and the card."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.export import export_model, head_of, next_version, read_card


@pytest.fixture(scope="module")
def lenet():
    return zoo.build("lenet", filters=(2, 4), dense_units=(8,))


def _images(count=3):
    return np.random.default_rng(0).uniform(0, 255, (count, 28, 28, 1)).astype("float32")


def test_versions_count_up_from_one_and_ignore_other_entries(tmp_path, lenet):
    (tmp_path / "lenet" / "notes").mkdir(parents=True)
    (tmp_path / "lenet" / "7.bak").mkdir()
    assert export_model(lenet, tmp_path).name == "1"
    assert export_model(lenet, tmp_path).name == "2"
    assert export_model(lenet, tmp_path, version=10).name == "10"
    assert next_version(tmp_path / "lenet") == 11


def test_an_existing_version_is_never_overwritten(tmp_path, lenet):
    export_model(lenet, tmp_path, version=3)
    before = sorted(p.name for p in (tmp_path / "lenet" / "3").rglob("*"))
    with pytest.raises(FileExistsError, match="Version 3 of 'lenet' already exists"):
        export_model(lenet, tmp_path, version=3)
    assert sorted(p.name for p in (tmp_path / "lenet" / "3").rglob("*")) == before


def test_a_failure_in_the_middle_leaves_no_version_and_no_staging_dir(tmp_path, lenet):
    ragged = [[1.0, 2.0], [3.0]]  # fails when the warm-up records are written, after the SavedModel
    with pytest.raises(ValueError):
        export_model(lenet, tmp_path, warmup_inputs=ragged)
    assert list((tmp_path / "lenet").iterdir()) == []
    assert export_model(lenet, tmp_path).name == "1"  # the failed attempt used no number


def test_an_export_killed_midway_leaves_no_version_and_the_next_export_removes_its_leftovers(tmp_path):
    # a real process killed after writing the SavedModel, before renaming it into place
    child = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        import zoo, zoo.export
        def killed(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        zoo.export.write_warmup_requests = killed
        model = zoo.build("lenet", filters=(2, 4), dense_units=(8,))
        zoo.export.export_model(model, {str(tmp_path)!r}, warmup_inputs=np.zeros((1, 28, 28, 1), "float32"))
        """)
    process = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300)
    assert process.returncode == -9, process.stderr[-2000:]
    (leftover,) = (tmp_path / "lenet").iterdir()
    assert leftover.name.startswith(f".1.incomplete-{socket.gethostname()}-")
    assert (leftover / "saved_model.pb").is_file()  # the export had got that far

    lenet = zoo.build("lenet", filters=(2, 4), dense_units=(8,))
    assert export_model(lenet, tmp_path).name == "1"
    assert sorted(p.name for p in (tmp_path / "lenet").iterdir()) == ["1"]


def test_staging_dirs_that_may_still_be_written_are_left_alone(tmp_path, lenet):
    host = socket.gethostname()
    ours = f".1.incomplete-{host}-{os.getpid()}-0123abcd"  # a live process: this one
    elsewhere = ".1.incomplete-another-host-1-0123abcd"  # another host's, on a shared filesystem
    unknown = ".1.incomplete-0123abcd"  # no host or process in the name
    for name in (ours, elsewhere, unknown):
        (tmp_path / "lenet" / name).mkdir(parents=True)
    assert export_model(lenet, tmp_path).name == "1"
    assert sorted(p.name for p in (tmp_path / "lenet").iterdir()) == sorted([ours, elsewhere, unknown, "1"])


@pytest.mark.parametrize("bad, message", [
    ({"version": 0}, "`version` must be a positive integer. Received: version=0"),
    ({"version": "2"}, "`version` must be a positive integer. Received: version='2'"),
    ({"name": "../escape"}, "The export name must be a plain directory name (letters, digits, '_', '.', '-'; not starting with '.'). Received: '../escape'"),
    ({"head": "scores"}, "`head` must be one of logits, binary_logits, probabilities, classes, gp_latent, gp_robustmax, normal, mean_std, values"),
])
def test_bad_arguments_say_what_was_received(tmp_path, lenet, bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        export_model(lenet, tmp_path, **bad)


def test_classifier_signature_has_named_input_and_logits_probabilities_classes(tmp_path, lenet):
    path = export_model(lenet, tmp_path, input_name="images", card={"note": "hi"}, warmup_inputs=_images(2))
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert list(serve.structured_input_signature[1]) == ["images"]
    out = serve(images=tf.constant(_images()))
    logits = lenet.predict(_images(), verbose=0)
    np.testing.assert_allclose(out["logits"].numpy(), logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["probabilities"].numpy(), tf.nn.softmax(logits).numpy(), rtol=1e-5, atol=1e-6)
    assert out["classes"].dtype == tf.int64
    np.testing.assert_array_equal(out["classes"].numpy(), logits.argmax(-1))
    card = read_card(path)
    assert card["note"] == "hi" and card["name"] == "lenet" and card["version"] == 1
    assert card["outputs"] == ["logits", "probabilities", "classes"]
    assert card["signature"] == {"name": "serving_default", "input": "images", "input_dtype": "float32",
                                 "input_shape": [None, 28, 28, 1]}
    assert set(card["libraries"]) >= {"python", "tensorflow", "keras", "keras-zoo"}
    assert card["git_commit"] is None or len(card["git_commit"].split("-")[0]) == 40


@pytest.mark.parametrize("name, config, head, outputs", [
    ("lenet", {}, "logits", {"logits", "probabilities", "classes"}),
    ("mlp", {"num_classes": 1}, "binary_logits", {"logits", "probabilities", "classes"}),
    ("mlp", {"output_activation": "softmax"}, "probabilities", {"probabilities", "classes"}),
    ("perceptron", {}, "classes", {"classes"}),
    ("lstm_sequence", {}, "values", {"predictions"}),
])
def test_each_head_gets_its_outputs(tmp_path, name, config, head, outputs):
    model = zoo.build(name, **config)
    assert head_of(model) == head
    serve = tf.saved_model.load(str(export_model(model, tmp_path))).signatures["serving_default"]
    spec = serve.structured_input_signature[1]["inputs"]
    shape = [2 if d is None else d for d in spec.shape]
    result = serve(inputs=tf.ones(shape, spec.dtype))
    assert set(result) == outputs
    if head == "binary_logits":
        probabilities = result["probabilities"].numpy()
        np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-6)
        np.testing.assert_array_equal(result["classes"].numpy(), (probabilities[:, 1] > 0.5).astype(int))


def test_an_uncompiled_model_exports_by_the_head_it_was_built_with(tmp_path):
    # No loss to read the head from: the catalog's declaration says the outputs are a Normal's.
    model = zoo.build("bayesian_mlp", task="regression", input_shape=(3,), compile=False)
    path = export_model(model, tmp_path, mc_samples=4, target_scale=(10.0, 2.0))
    assert read_card(path)["head"] == "normal"
    served = tf.saved_model.load(str(path)).signatures["serving_default"](inputs=tf.ones((5, 3)))
    assert set(served) == {"mean", "std", "aleatoric_std", "epistemic_std"}
    # The std floor is the one GaussianNLL trains with, scaled to target units.
    assert np.all(served["aleatoric_std"].numpy() >= 2.0 * zoo.heads.MIN_STD)
