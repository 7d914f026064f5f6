"""Training on several workers: `TF_CONFIG`, who the chief is, and Keras' multi-worker fix.

TensorFlow's `MultiWorkerMirroredStrategy` reads the cluster from `TF_CONFIG`:

    {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}

`read_tf_config` checks it before any training starts (TensorFlow's own errors come late and
say little). The chief (the `chief` task, else worker 0) writes checkpoints, exports, plots
and metrics; the other workers write to temporary directories that are removed afterwards,
as TensorFlow's multi-worker guide prescribes (the recipe runner makes them;
`worker_backup_and_restore` keeps a worker's backup there).

`keras_multi_worker_fix` makes Keras 3's `fit` / `evaluate` work under the strategy (see its
docstring).

Example:
    >>> role = WorkerRole.from_environment()  # doctest: +SKIP
    >>> role.is_chief, role.index, role.num_workers  # doctest: +SKIP
    (True, 0, 2)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path

# The Keras versions whose TensorFlow trainer fails under MultiWorkerMirroredStrategy (every
# Keras 3 release up to the pinned 3.15; keras-team/keras#20585 and tensorflow/tensorflow#72388
# are open). A newer Keras is left alone: if it still fails, extend this after checking.
KERAS_VERSIONS_NEEDING_FIX = ((3, 0), (3, 16))


class TFConfigError(ValueError):
    """`TF_CONFIG` does not describe a cluster this process can join."""


@dataclasses.dataclass(frozen=True)
class WorkerRole:
    """This process's place in the cluster `TF_CONFIG` describes."""

    task_type: str
    index: int
    num_workers: int
    cluster_has_chief: bool = False  # then the chief task is the chief, not worker 0

    @property
    def is_chief(self) -> bool:
        return self.task_type == "chief" or (self.task_type == "worker" and self.index == 0
                                             and not self.cluster_has_chief)

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> WorkerRole | None:
        """The role `TF_CONFIG` gives, or None without one (a single-process run)."""
        text = (os.environ if environ is None else environ).get("TF_CONFIG")
        return None if not text else read_tf_config(text)


def read_tf_config(text: str) -> WorkerRole:
    """Parses and checks a `TF_CONFIG` value; raises `TFConfigError` saying what is wrong.

    Example:
        >>> read_tf_config('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')
        WorkerRole(task_type='worker', index=1, num_workers=2, cluster_has_chief=False)
    """
    example = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}')
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise TFConfigError(f"TF_CONFIG is not valid JSON ({error}). Received: {text!r}. Expected e.g. {example}") \
            from None
    if not isinstance(config, dict):
        raise TFConfigError(f"TF_CONFIG must be a JSON object. Received: {text!r}. Expected e.g. {example}")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise TFConfigError(f"TF_CONFIG has no 'cluster' (task type -> list of host:port). Received: {text!r}. "
                            f"Expected e.g. {example}")
    for task_type, addresses in cluster.items():
        if task_type not in ("chief", "worker", "evaluator", "ps"):
            raise TFConfigError(f"TF_CONFIG's cluster has an unknown task type {task_type!r}; "
                                "MultiWorkerMirroredStrategy uses 'chief' and 'worker'.")
        if not isinstance(addresses, list) or not addresses or not all(
                isinstance(address, str) and _is_host_port(address) for address in addresses):
            raise TFConfigError(f"TF_CONFIG's cluster[{task_type!r}] must be a non-empty list of 'host:port' "
                                f"strings. Received: {addresses!r}")
    if "ps" in cluster:
        raise TFConfigError("TF_CONFIG describes parameter servers ('ps'); the recipes train with "
                            "MultiWorkerMirroredStrategy, whose cluster has only 'chief' and 'worker' tasks.")
    if len(cluster.get("chief", [])) > 1:
        raise TFConfigError(f"TF_CONFIG's cluster has {len(cluster['chief'])} chiefs; there can be one.")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise TFConfigError(f"TF_CONFIG has no 'task' with a 'type' and an 'index' (which member of the cluster "
                            f"this process is). Received: {text!r}. Expected e.g. {example}")
    task_type, index = task["type"], task["index"]
    if task_type not in cluster:
        raise TFConfigError(f"TF_CONFIG's task type {task_type!r} is not in the cluster "
                            f"({', '.join(sorted(cluster))}).")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[task_type]):
        raise TFConfigError(f"TF_CONFIG's task index {index!r} is outside the cluster: {task_type!r} has "
                            f"{len(cluster[task_type])} task(s), so the index must be 0 to "
                            f"{len(cluster[task_type]) - 1}.")
    if task_type == "evaluator":
        raise TFConfigError("TF_CONFIG's task is an 'evaluator'; the recipes have no side-car evaluator "
                            "(the chief evaluates after training).")
    num_workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    return WorkerRole(task_type, index, num_workers, cluster_has_chief="chief" in cluster)


def _is_host_port(address: str) -> bool:
    host, _, port = address.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def keras_needs_fix(version: str | None = None) -> bool:
    """Whether this Keras version's `fit` fails under MultiWorkerMirroredStrategy."""
    import keras

    parts = tuple(int(part) for part in (version or keras.__version__).split(".")[:2] if part.isdigit())
    low, high = KERAS_VERSIONS_NEEDING_FIX
    return low <= parts < high


@contextlib.contextmanager
def keras_multi_worker_fix(strategy):
    """Makes Keras' TensorFlow trainer work under MultiWorkerMirroredStrategy while active.

    With Keras 3.0-3.15, `fit` fails under that strategy in two places (upstream:
    keras-team/keras#20585, tensorflow/tensorflow#72388, both open):

    1. Before training, the trainer builds the model from one batch, which it makes by
       averaging the per-replica batches with `strategy.reduce`; across workers that is a
       collective op run eagerly, which fails ("Attempt to convert a value (PerReplica:...)
       with an unsupported type ... to a Tensor"). Building needs only shapes and dtypes, so
       this takes this worker's first replica's batch instead.
    2. Each step's losses and metrics (scalars) are averaged across workers with
       `strategy.reduce("MEAN", value, axis=0)`, which fails for scalars ("Invalid reduction
       dimension 0 for input with 0 dimensions"). They are reduced with axis=None: the
       element-wise mean over replicas, as MirroredStrategy's path computes it.

    It does nothing for other strategies, for a strategy not in multi-worker mode, or for
    Keras versions outside `KERAS_VERSIONS_NEEDING_FIX`; it restores Keras on exit.

    Example:
        >>> with keras_multi_worker_fix(strategy):  # doctest: +SKIP
        ...     model.fit(dataset, epochs=3)
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    if not (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode() and keras_needs_fix()):
        yield False
        return
    original_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = trainer.reduce_per_replica

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is not None and iterator is not None and data_batch is None:
            for _, _, batches in iterator:
                batch = next(batches)
                data_batch = tf.nest.map_structure(
                    lambda value: self.distribute_strategy.experimental_local_results(value)[0]
                    if isinstance(value, tf.distribute.DistributedValues) else value, batch)
                break
            iterator = None
        return original_build(self, iterator=iterator, data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            # The element-wise mean over all replicas of all workers (MirroredStrategy's
            # meaning); axis=0 would also average along the value's first axis.
            return tf.nest.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original_reduce(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    try:
        yield True
    finally:
        trainer.TensorFlowTrainer._maybe_symbolic_build = original_build
        trainer.reduce_per_replica = original_reduce


def describe(role: WorkerRole | None) -> str:
    """'worker 1 of 2' / 'chief' for logs."""
    if role is None:
        return "single process"
    return f"{role.task_type} {role.index} of {role.num_workers}" + (" (chief)" if role.is_chief else "")


def worker_backup_and_restore(backup_dir: str, scratch_dir: str):
    """`keras.callbacks.BackupAndRestore` for a non-chief worker: it restores from the chief's
    `backup_dir` (so after a restart every worker resumes from the same epoch; on a real
    cluster the model dir must be on storage all workers can read), saves its own state only
    in `scratch_dir`, and leaves the chief's backup for the chief to remove.

    Example:
        >>> callback = worker_backup_and_restore("runs/lenet/backup", "/tmp/zoo-worker-1/backup")  # doctest: +SKIP
    """
    import keras

    class WorkerBackupAndRestore(keras.callbacks.BackupAndRestore):
        def _save_model(self):
            self.model.save_weights(str(Path(scratch_dir) / "latest.weights.h5"), overwrite=True)

        def on_train_end(self, logs=None):
            pass

    Path(scratch_dir).mkdir(parents=True, exist_ok=True)
    return WorkerBackupAndRestore(backup_dir, double_checkpoint=True)

