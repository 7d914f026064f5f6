"""The `zoo` command: `list` and `describe` answer from metadata, without TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import zoo

# Runs the CLI in a fresh interpreter, then reports which heavy modules were really loaded
# (a lazily bound `keras` that was never touched does not count).
PROBE = """
import contextlib, io, json, sys
from zoo.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(sys.argv[1:])
heavy = sorted(m for m in ("tensorflow", "jax", "keras.src", "tensorflow_probability")
               if m in sys.modules)
print(json.dumps({"code": code, "stdout": out.getvalue(), "heavy": heavy}))
"""


def _run_cli(*args):
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_list_json_prints_the_catalog_without_importing_tensorflow():
    result = _run_cli("list", "--json")
    assert result["code"] == 0 and result["heavy"] == []
    listed = json.loads(result["stdout"])
    assert [entry["name"] for entry in listed] == [
        n for n in zoo.list_models() if n != "user_linear_regressor"]  # a test-only entry
    assert listed[0].keys() >= {"name", "family", "task", "summary", "tags", "total_params"}


def test_describe_json_prints_the_card_without_importing_tensorflow():
    result = _run_cli("describe", "lenet", "--json")
    assert result["code"] == 0 and result["heavy"] == []
    assert json.loads(result["stdout"]) == zoo.describe("lenet").to_dict()


def test_list_filters_and_describe_prints_a_readable_card():
    assert _run_cli("list", "lenet*")["stdout"].splitlines()[1].startswith("lenet ")
    assert [e["name"] for e in json.loads(_run_cli("list", "--tag", "recurrent", "--json")["stdout"])] \
        == ["bayesian_lstm", "bayesian_lstm_text", "lstm_sequence", "lstm_text"]
    text = _run_cli("describe", "lenet5")["stdout"]
    assert "60,850 trainable" in text and "doi.org/10.1109/5.726791" in text
    assert "\n  head          logits\n" in text


def test_unknown_model_exits_2_with_suggestions_on_stderr():
    done = subprocess.run([sys.executable, "-m", "zoo", "describe", "lenett"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert "No model named 'lenett'" in done.stderr and "'lenet'" in done.stderr


def test_help_texts_describe_each_command():
    for args in ([], ["list"], ["describe"]):
        done = subprocess.run([sys.executable, "-m", "zoo", *args, "--help"], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0 and "usage: zoo" in done.stdout


def test_reading_the_catalog_before_importing_tensorflow_leaves_keras_whole():
    """The catalog binds Keras lazily; TensorFlow's own import must not find a half-loaded Keras
    (as `zoo train --set dropout=0.1` does: parse, describe, then train)."""
    code = ("import zoo\nzoo.describe('lenet')\nimport tensorflow\n"
            "print(zoo.build('lenet', dropout=0.1).count_params())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == str(zoo.describe("lenet").trainable_params)
