"""Training on several workers: `zoo launch`, Keras' MultiWorkerMirroredStrategy fix, chief-only
writes, a restart after a lost worker, and clear errors for a bad TF_CONFIG.

Workers are real processes on 127.0.0.1 (MultiWorkerMirroredStrategy must be created before
TensorFlow starts, so never in the test process). Every wait is bounded and every process is
stopped, even when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from recipe_helpers import RECIPES_DIR, assert_matches_one_replica, wait_for_backup_epoch

from zoo.training.multi_worker import TFConfigError, WorkerRole, keras_needs_fix, read_tf_config

LENET = str(RECIPES_DIR / "lenet_mnist.py")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
# As tests/test_distribution.py compares MirroredStrategy with one replica: no dropout (each
# replica draws its own masks), 1,280 examples (10 even batches of 128), and one replica
# under OneDeviceStrategy (which, like any strategy but the default, peeks at a batch first).
SAME_AS_ONE_REPLICA = ["--dataset", "digits", "--epochs", "3", "--set", "dropout=0",
                       "--set", "train_split=train[:1280]", "--set", "validation_split=none"]


class Launched:
    """`zoo launch` in a subprocess, its output collected line by line as it comes."""

    def __init__(self, args, env, cwd):
        self.lines: list[str] = []
        self.process = subprocess.Popen([sys.executable, "-m", "zoo", "launch", *args], env=env, cwd=cwd,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self):
        """Stops the launcher (which stops its workers) and, should it not have, the workers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for pid in re.findall(r"worker \d+(?: \(chief\))?: pid (\d+)", self.output):
            try:
                os.killpg(int(pid), signal.SIGKILL)  # each worker leads its own process group
            except (ProcessLookupError, PermissionError):
                pass


def _epoch_losses(output: str, worker: int) -> list[float]:
    """The loss on each `epoch N/M: ..., loss X (...)` line of one worker."""
    return [float(x) for x in re.findall(rf"^\[worker {worker}\] epoch \d+/\d+: .*?\bloss ([0-9.]+)", output, re.M)]


def test_two_workers_train_as_one_replica_does_and_only_the_chief_writes(tmp_path):
    data, scratch = tmp_path / "data", tmp_path / "tmp"
    scratch.mkdir()
    env = {**ENV, "TMPDIR": str(scratch)}  # where the non-chief worker's scratch dir goes
    common = [*SAME_AS_ONE_REPLICA, "--data-dir", str(data)]
    launched = Launched(["--workers", "2", LENET, *common, "--model-dir", str(tmp_path / "run"),
                         "--export-dir", str(tmp_path / "exports")], env, tmp_path)
    try:
        assert launched.wait(timeout=600) == 0, launched.output[-5000:]
    finally:
        launched.stop()
    output = launched.output
    assert "on MultiWorkerMirroredStrategy (2 replicas)" in output
    chief, worker = _epoch_losses(output, 0), _epoch_losses(output, 1)
    assert len(chief) == 3 and chief == worker, output[-3000:]

    one = subprocess.run([sys.executable, LENET, *common, "--strategy", "one_device", "--set", "export=false",
                          "--model-dir", str(tmp_path / "one")], env=ENV, capture_output=True, text=True,
                         timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    one_replica = _history(tmp_path / "one")
    two_workers = _history(tmp_path / "run")
    assert two_workers == pytest.approx(one_replica, rel=1e-4)
    assert chief == pytest.approx(one_replica, abs=1e-4)  # printed with 4 decimals
    assert two_workers[-1] < two_workers[0] * 0.5  # it learned

    # Only the chief wrote: one model dir, one export; the other worker's scratch is gone.
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {"history.csv", "metrics.json", "curves.png",
                                                              "model.keras", "config.json"}
    assert [p.name for p in (tmp_path / "exports" / "lenet").iterdir()] == ["1"]
    assert list(scratch.glob("zoo-*")) == []
    assert "worker 1 of 2: the chief writes the files" in output


@pytest.mark.slow
def test_an_ensemble_trains_on_two_workers_as_on_one_replica(tmp_path):
    common = [*SAME_AS_ONE_REPLICA, "--data-dir", str(tmp_path / "data"), "--set", "ensemble_size=2"]
    launched = Launched(["--workers", "2", LENET, *common, "--model-dir", str(tmp_path / "run"),
                         "--export-dir", str(tmp_path / "exports")], ENV, tmp_path)
    try:
        assert launched.wait(timeout=900) == 0, launched.output[-5000:]
    finally:
        launched.stop()
    assert "on MultiWorkerMirroredStrategy (2 replicas)" in launched.output
    one = subprocess.run([sys.executable, LENET, *common, "--strategy", "one_device", "--set", "export=false",
                          "--model-dir", str(tmp_path / "one")], env=ENV, capture_output=True, text=True,
                         timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    assert_matches_one_replica(_history(tmp_path / "run"), _history(tmp_path / "one"), ensemble=True)
    assert [p.name for p in (tmp_path / "exports" / "lenet_ensemble2").iterdir()] == ["1"]


def _history(model_dir: Path) -> list[float]:
    rows = (model_dir / "history.csv").read_text().splitlines()
    column = rows[0].split(",").index("loss")
    return [float(row.split(",")[column]) for row in rows[1:]]


def _kill_worker_1_after_epoch(tmp_path: Path, epoch: int) -> str:
    """Launches lenet on 2 workers for 3 epochs, SIGKILLs worker 1 once the chief's backup
    records `epoch` epochs, and returns the launcher's output once the run has ended (exit 0)."""
    run_dir = tmp_path / "run"
    launched = Launched(["--workers", "2", LENET, "--dataset", "digits", "--epochs", "3", "--batch-size", "32",
                         "--data-dir", str(tmp_path / "data"), "--model-dir", str(run_dir),
                         "--export-dir", str(tmp_path / "exports")], ENV, tmp_path)
    try:
        completed = wait_for_backup_epoch(run_dir, epoch, lambda: launched.process.poll() is None, timeout=300)
        assert completed == epoch, f"epoch {epoch} never completed (or more did):\n{launched.output[-3000:]}"
        assert not list((tmp_path / "exports").glob("lenet/[0-9]*")), "the cluster exported before the kill"
        pid = int(re.search(r"worker 1: pid (\d+)", launched.output).group(1))
        os.kill(pid, signal.SIGKILL)
        assert launched.wait(timeout=600) == 0, launched.output[-5000:]
    finally:
        launched.stop()
    assert "worker 1 was killed (SIGKILL); restarting the cluster (1 of at most 3)" in launched.output
    return launched.output


def test_a_worker_killed_after_epoch_1_is_restarted_and_training_finishes_3_epochs_in_all(tmp_path):
    run_dir, exports = tmp_path / "run", tmp_path / "exports"
    output = _kill_worker_1_after_epoch(tmp_path, 1)
    assert re.search(r"^\[worker 0\] Resuming from the backup", output, re.M)
    assert re.search(r"^\[worker 1\] Resuming from the backup", output, re.M)
    history = (run_dir / "history.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in history] == [1, 2, 3]  # 3 epochs in all, not 4
    assert [p.name for p in (exports / "lenet").iterdir()] == ["1"]  # exported once, by the chief


def test_a_worker_killed_after_training_restarts_the_cluster_without_training_again(tmp_path):
    """Killed while the cluster evaluates or exports, the restarted cluster resumes from the
    chief's backup of the last epoch (kept until the export is written), trains no epoch and
    exports one version."""
    run_dir, exports = tmp_path / "run", tmp_path / "exports"
    output = _kill_worker_1_after_epoch(tmp_path, 3)
    for worker in (0, 1):
        assert re.search(rf"^\[worker {worker}\] Resuming from the backup .*: training had finished \(3 epochs\)",
                         output, re.M)
    restarted = output.split("restarting the cluster", 1)[1]
    assert not re.search(r"^\[worker \d\] epoch \d+/3:", restarted, re.M)  # no epoch trained again
    history = (run_dir / "history.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in history] == [1, 2, 3]
    assert json.loads((run_dir / "metrics.json").read_text())["test"]["accuracy"] > 0.8  # the trained weights
    assert [p.name for p in (exports / "lenet").iterdir() if not p.name.startswith(".")] == ["1"]
    assert not (run_dir / "backup").exists()


def test_ctrl_c_stops_every_worker(tmp_path):
    launched = Launched(["--workers", "2", LENET, "--dataset", "digits", "--epochs", "50",
                         "--data-dir", str(tmp_path / "data"), "--model-dir", str(tmp_path / "run"),
                         "--export-dir", str(tmp_path / "exports")], ENV, tmp_path)
    try:
        deadline = time.monotonic() + 300
        while "[worker 1] epoch 1/50:" not in launched.output and time.monotonic() < deadline:
            assert launched.process.poll() is None, launched.output[-3000:]
            time.sleep(0.05)
        pids = [int(pid) for pid in re.findall(r"worker \d(?: \(chief\))?: pid (\d+)", launched.output)]
        assert len(pids) == 2
        launched.process.send_signal(signal.SIGINT)
        assert launched.wait(timeout=60) == 128 + signal.SIGINT
    finally:
        launched.stop()
    assert "zoo launch: stopped: every worker was stopped." in launched.output
    assert not [pid for pid in pids if _alive(pid)], "a worker outlived the launcher"
    assert not (tmp_path / "exports").exists()


def test_a_worker_that_exits_with_an_error_stops_the_cluster_without_a_restart(tmp_path):
    launched = Launched(["--workers", "2", LENET, "--dataset", "digits", "--batch-size", "0"], ENV, tmp_path)
    try:
        code = launched.wait(timeout=120)
    finally:
        launched.stop()
    assert code == 2, launched.output[-3000:]  # the recipe's own usage error, passed on
    assert "batch_size" in launched.output
    assert "the other workers were stopped (not restarting: the same error would come back)" in launched.output
    assert "restarting the cluster" not in launched.output


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] != "Z"


BAD_TF_CONFIGS = [
    ("malformed JSON", '{"cluster": {"worker": ["127.0.0.1:1"]', "TF_CONFIG is not valid JSON"),
    ("no task", '{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}}',
     "TF_CONFIG has no 'task' with a 'type' and an 'index'"),
    ("index outside the cluster",
     '{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 2}}',
     "TF_CONFIG's task index 2 is outside the cluster: 'worker' has 2 task(s), so the index must be 0 to 1"),
]


@pytest.mark.parametrize("case", BAD_TF_CONFIGS, ids=[c[0] for c in BAD_TF_CONFIGS])
def test_a_recipe_with_a_bad_tf_config_says_what_is_wrong_before_training(tmp_path, case):
    _, value, message = case
    done = subprocess.run([sys.executable, LENET, "--dataset", "digits", "--data-dir", str(tmp_path / "data"),
                           "--model-dir", str(tmp_path / "run")], env={**ENV, "TF_CONFIG": value},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert message in done.stderr, done.stderr[-2000:]
    assert "poch " not in done.stdout and not (tmp_path / "data").exists()  # nothing started


@pytest.mark.parametrize("value, message", [
    ("[]", "TF_CONFIG must be a JSON object"),
    ('{"task": {"type": "worker", "index": 0}}', "TF_CONFIG has no 'cluster'"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "'host:port' strings"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
     "task type 'chief' is not in the cluster"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": true}}', "task index True"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}',
     "parameter servers"),
    ('{"cluster": {"workers": ["a:1"]}, "task": {"type": "workers", "index": 0}}', "unknown task type 'workers'"),
])
def test_tf_config_errors_name_the_problem(value, message):
    with pytest.raises(TFConfigError, match=re.escape(message)):
        read_tf_config(value)


def test_the_chief_is_the_chief_task_or_else_worker_0():
    cluster = {"worker": ["a:1", "b:2"]}
    roles = [read_tf_config(json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
             for i in range(2)]
    assert [role.is_chief for role in roles] == [True, False] and roles[0].num_workers == 2
    with_chief = {"chief": ["c:3"], "worker": ["a:1"]}
    chief = read_tf_config(json.dumps({"cluster": with_chief, "task": {"type": "chief", "index": 0}}))
    worker = read_tf_config(json.dumps({"cluster": with_chief, "task": {"type": "worker", "index": 0}}))
    assert chief.is_chief and not worker.is_chief and chief.num_workers == 2
    assert WorkerRole.from_environment({}) is None


def test_the_fix_applies_to_the_keras_versions_that_need_it_only():
    assert keras_needs_fix("3.15.0") and keras_needs_fix("3.0.1")
    assert not keras_needs_fix("3.16.0") and not keras_needs_fix("2.15.0")


TOY = """
import json, sys
import numpy as np, tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()
import keras
from zoo.training.multi_worker import keras_multi_worker_fix
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(256, 8)).astype("float32")
data = tf.data.Dataset.from_tensor_slices((x, (x.sum(1) > 0).astype("int32"))).batch(32)
with strategy.scope():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
fix = keras_multi_worker_fix(strategy) if sys.argv[1] == "with-fix" else __import__("contextlib").nullcontext()
with fix:
    print("LOSSES", json.dumps(model.fit(data, epochs=2, verbose=0).history["loss"]))
"""


def test_keras_fit_fails_under_multi_worker_mirrored_strategy_without_the_fix_and_works_with_it(tmp_path):
    """Runs the same two-worker fit twice. Without the fix it fails with the upstream error
    (when a Keras release fixes it, this test says the fix can go); with it, both workers train."""
    script = tmp_path / "toy.py"
    script.write_text(TOY)
    results = {mode: _two_workers(script, mode) for mode in ("without-fix", "with-fix")}
    failed = results["without-fix"]
    assert all(code != 0 for code, _ in failed)
    assert any("PerReplica" in output and "unsupported type" in output for _, output in failed)
    losses = [json.loads(output.split("LOSSES ")[-1]) for code, output in results["with-fix"] if code == 0]
    assert len(losses) == 2 and losses[0] == losses[1] and len(losses[0]) == 2, results["with-fix"]


def _two_workers(script: Path, mode: str) -> list[tuple[int, str]]:
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = [subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True,
                                  env={**ENV, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                                       "task": {"type": "worker", "index": i}})})
                 for i in range(2)]
    try:
        return [(process.wait(timeout=120), process.stdout.read()) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
