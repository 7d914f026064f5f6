"""Distributed training on this machine: MirroredStrategy over 2 logical CPU devices matches
one replica, and a killed run resumes from its last completed epoch. Both run recipes in
fresh processes (logical devices must be set before TensorFlow starts; a kill needs a process)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from recipe_helpers import RECIPES_DIR, assert_matches_one_replica, wait_for_backup_epoch

LENET = str(RECIPES_DIR / "lenet_mnist.py")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}

# Two Keras facts shape this comparison (see the README's "Distributed training"):
# - each replica takes the mean over its own part of the batch, so an uneven last batch
#   (1,293 = 10 x 128 + 13 digits) weighs examples slightly differently: use 1,280;
# - under any strategy but the default one, Keras peeks at one batch before training, which
#   starts (and discards) one pass of the seeded shuffle: compare against one replica under
#   OneDeviceStrategy, which takes the same path.
COMPARE = """
import json, runpy, sys
main = runpy.run_path(sys.argv[1], run_name="recipe")["main"]
losses = {}
for strategy in ("mirrored", "one_device"):
    result = main(sys.argv[3:] + ["--dataset", "digits", "--epochs", "3", "--strategy", strategy,
                   "--set", "cpu_devices=2", "--set", "dropout=0", "--set", "train_split=train[:1280]",
                   "--set", "validation_split=none", "--set", "export=false",
                   "--data-dir", sys.argv[2], "--model-dir", sys.argv[2] + "/" + strategy])
    losses[strategy] = {"replicas": result.summary.split(" on ")[-1].split("|")[0].strip(),
                        "epochs": result.history["loss"], "test": result.metrics["loss"]}
print("LOSSES " + json.dumps(losses))
"""


@pytest.mark.parametrize("extra", [[], ["--set", "ensemble_size=2"]], ids=["lenet", "ensemble of 2 lenets"])
def test_mirrored_over_two_devices_gives_one_replicas_per_epoch_losses(tmp_path, extra):
    done = subprocess.run([sys.executable, "-c", COMPARE, LENET, str(tmp_path), *extra], env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    losses = json.loads(done.stdout.split("LOSSES ")[-1])
    assert losses["mirrored"]["replicas"] == "MirroredStrategy (2 replicas)"
    assert losses["one_device"]["replicas"] == "OneDeviceStrategy (1 replica)"
    assert len(losses["mirrored"]["epochs"]) == 3
    mirrored, one = losses["mirrored"], losses["one_device"]
    assert_matches_one_replica([*mirrored["epochs"], mirrored["test"]], [*one["epochs"], one["test"]],
                               ensemble=bool(extra))
    assert losses["mirrored"]["epochs"][-1] < losses["mirrored"]["epochs"][0] * 0.5  # it learned


def _kill_after_epoch(command: list[str], model_dir, epoch: int) -> int:
    """Runs `command`, SIGKILLs it once its backup records `epoch` completed epochs, and
    returns the epochs recorded then. Fails if the run ended by itself first."""
    run = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        completed = wait_for_backup_epoch(model_dir, epoch, lambda: run.poll() is None)
        assert run.poll() is None, f"the run ended (exit {run.returncode}) before epoch {epoch} was killed"
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=30)
    return completed


def test_a_killed_run_restarted_with_the_same_command_resumes_from_its_last_epoch(tmp_path):
    command = [sys.executable, LENET, "--dataset", "digits", "--epochs", "12",
               "--data-dir", str(tmp_path / "data"), "--model-dir", str(tmp_path / "run"),
               "--export-dir", str(tmp_path / "exports")]
    metadata = tmp_path / "run" / "backup" / "training_metadata.json"
    completed = _kill_after_epoch(command, tmp_path / "run", 2)
    assert completed >= 2, "the run never completed two epochs"
    saved = json.loads(metadata.read_text())["epoch"]  # epochs completed when it died
    assert saved < 12 and not (tmp_path / "exports").exists()

    resumed = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from the backup" in resumed.stdout
    epochs = [int(n) for n in re.findall(r"^epoch (\d+)/12:", resumed.stdout, flags=re.M)]
    assert epochs == list(range(saved + 1, 13))  # it picks up after the last completed epoch
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert sorted({int(line.split(",")[0]) for line in history[1:]}) == list(range(1, 13))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    assert metrics["accuracy"] > 0.9
    assert [p.name for p in (tmp_path / "exports" / "lenet").iterdir()] == ["1"]


def test_a_run_killed_after_training_restarts_from_the_trained_weights_and_exports_once(tmp_path):
    """Killed while evaluating or exporting, a run keeps its backup (Keras alone deletes it
    when `fit` ends, and the restart trained everything again): the restart trains no epoch,
    and exports the weights the first run trained."""
    command = [sys.executable, LENET, "--dataset", "digits", "--epochs", "12",
               "--data-dir", str(tmp_path / "data"), "--model-dir", str(tmp_path / "run"),
               "--export-dir", str(tmp_path / "exports")]
    # Training is over at 12; evaluating, plotting and exporting take the next few seconds.
    assert _kill_after_epoch(command, tmp_path / "run", 12) == 12, "the run never finished training"
    assert not list((tmp_path / "exports").glob("lenet/[0-9]*"))  # killed before a version appeared
    trained = (tmp_path / "run" / "model.keras").read_bytes()  # the checkpoint of epoch 12

    resumed = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "training had finished (12 epochs), so this run evaluates and exports the trained weights" \
        in resumed.stdout
    assert not re.search(r"^epoch \d+/12:", resumed.stdout, flags=re.M)  # no epoch trained again
    assert "12 epochs, 0 of them after resuming," in resumed.stdout
    assert (tmp_path / "run" / "model.keras").read_bytes() == trained  # no checkpoint rewritten
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in history[1:]] == list(range(1, 13))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["accuracy"] > 0.9  # trained weights
    assert [p.name for p in (tmp_path / "exports" / "lenet").iterdir() if not p.name.startswith(".")] == ["1"]
    assert not (tmp_path / "run" / "backup").exists()  # the finished run removed it
