"""`run`: the path every recipe shares, from a resolved config to an evaluated, exported model.

A recipe supplies its config and a `load_data(config) -> RecipeData`; `run` does the rest:

1. prints the resolved config and writes it to `<model_dir>/config.json`;
2. chooses the `tf.distribute` strategy (`zoo.training.strategy`);
3. loads the data and batches it with `zoo.data.pipeline` at the global batch size;
4. builds and compiles the catalog model inside the strategy's scope;
5. trains with Keras' progress bar, `BackupAndRestore` (a killed run restarted with the
   same command resumes from its last completed epoch), a `model.keras` checkpoint of the
   latest epoch, TensorBoard logs and a CSV history, all in the model dir. The backup is
   kept until the run has exported, so a run killed while evaluating or exporting restarts
   with its trained weights and goes straight to step 6 instead of training again;
6. evaluates on the test split, writes `metrics.json` and `curves.png`;
7. exports a new SavedModel version with its card and warm-up requests (`zoo.export`);
8. prints a one-line summary.

On several workers (`TF_CONFIG`, MultiWorkerMirroredStrategy; `zoo launch` starts them
locally) every worker runs all of this, and only the chief writes to the model and export
dirs: the others write to a temporary directory, removed when they finish, and restore from
the chief's backup after a restart (`zoo.training.multi_worker`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zoo import console

tf = console.import_tensorflow()  # before zoo.data and Keras import it noisily

import keras

import zoo
from zoo import data as zoo_data
from zoo import export as zoo_export
from zoo import heads, saving
from zoo.training import multi_worker, report
from zoo.registry import get_spec
from zoo.training.config import RecipeConfig
from zoo.training.script import RunError
from zoo.training.strategy import select_strategy, split_cpu, strategy_name


@dataclasses.dataclass
class RecipeData:
    """What a recipe's `load_data` returns: unbatched (x, y) datasets and how to read them.

    `model_config` holds the keys the data decides (`input_shape`, `num_classes`, ...).
    `preprocess(x, y)` runs per example in the pipeline, before the cache; `augment(x, y)` per
    training batch. `preprocessor` is a Keras layer exported in front of the model, so the
    SavedModel takes raw inputs (`input_spec`), e.g. text for a model trained on token ids;
    `raw_input(x, y)` turns a dataset example into such an input when they differ (a dict of
    features into a vector). `target_scale=(loc, scale)`: regression targets were
    standardised for training; metrics and the export report loc + scale * prediction.
    `evaluate(model, out_dir)` adds the task's own test metrics (and plots) to `metrics.json`,
    e.g. a forecaster's scores on rolling origins beside its baselines'.
    """

    train: tf.data.Dataset
    test: tf.data.Dataset
    model_config: dict[str, Any]
    validation: tf.data.Dataset | None = None
    input_name: str = "inputs"
    preprocess: Callable | None = None
    augment: Callable | None = None
    preprocessor: Any = None
    input_spec: tf.TensorSpec | None = None
    raw_input: Callable | None = None
    target_scale: tuple[float, float] | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    evaluate: Callable | None = None


@dataclasses.dataclass
class RunResult:
    """A finished run: the trained model, its test metrics, history and where files went."""

    model: Any
    metrics: dict[str, float]
    history: dict[str, list[float]]
    model_dir: Path
    export_path: Path | None
    seconds: float
    summary: str
    data: RecipeData


def run(config: RecipeConfig, load_data: Callable[[RecipeConfig], RecipeData]) -> RunResult:
    """Trains, evaluates and exports `config.model` on the data `load_data` gives.

    Example:
        >>> result = run(parse_config(Config, ["--dataset", "digits"]), load_data)  # doctest: +SKIP
        >>> result.export_path  # doctest: +SKIP
        PosixPath('saved_models/lenet/1')
    """
    role = multi_worker.WorkerRole.from_environment()  # a bad TF_CONFIG fails here, before any work
    scratch = None
    if role is not None and not role.is_chief:
        scratch = Path(tempfile.mkdtemp(prefix=f"zoo-{role.task_type}-{role.index}-"))
    model_dir = Path(config.model_dir)
    new_run = not model_dir.exists()
    try:
        return _run(config, load_data, role, scratch)
    except BaseException:
        # Failed before its first epoch began (no data, a bad setting, Ctrl-C while loading):
        # a new run leaves no stub directory behind. CSVLogger creates the history at the start of
        # training; from then on the directory holds what a restart resumes from.
        if new_run and scratch is None and not (model_dir / "history.csv").exists():
            shutil.rmtree(model_dir, ignore_errors=True)
        raise
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _run(config: RecipeConfig, load_data, role: multi_worker.WorkerRole | None, scratch: Path | None) -> RunResult:
    """`run` for one process, step by step as the module docstring lists them; `scratch` is
    where a non-chief worker writes instead of the model dir."""
    run = _Run(config, role, scratch)
    run.start()                                    # 1. the config, and what would fail late fails now
    run.strategy = _choose_strategy(config, role)  # 2.
    run.data = load_data(config)                   # 3.
    train, validation, test = run.pipelines()
    model = run.build(train)                       # 4.
    seconds = run.train(model, train, validation)  # 5.
    metrics, history = run.evaluate(model, test, seconds)  # 6.
    export_path = run.export(model, metrics, history, seconds)  # 7.
    summary = run.summarize(metrics, seconds, export_path)      # 8.
    return RunResult(model, metrics, history, run.out_dir, export_path, seconds, summary, run.data)


@dataclasses.dataclass
class _Run:
    """One process's run: what its steps share (dirs, strategy, data, the backup's state)."""

    config: RecipeConfig
    role: multi_worker.WorkerRole | None
    scratch: Path | None  # a non-chief worker's temporary directory, or None on the chief
    strategy: Any = None
    data: RecipeData | None = None
    resumed_at: int | None = None  # epochs the backup had completed, None without a backup

    @property
    def model_dir(self) -> Path:
        return Path(self.config.model_dir)

    @property
    def out_dir(self) -> Path:  # where this process writes
        return self.scratch or self.model_dir

    @property
    def backup_dir(self) -> Path:  # the chief's: every worker restores from it
        return self.model_dir / "backup"

    @property
    def is_chief(self) -> bool:
        return self.scratch is None

    def start(self) -> None:
        """Step 1: prints and writes the config; on the chief, refuses a backup made with other
        settings and an export target that cannot be written, before any data loads."""
        config = self.config
        self.out_dir.mkdir(parents=True, exist_ok=True)
        where = f" as {multi_worker.describe(self.role)}" if self.role is not None else ""
        print(f"Recipe {_recipe_name(config)}{where}, config:\n{config.summary()}", flush=True)
        self.resumed_at = _backup_epoch(self.backup_dir)
        if self.is_chief:
            _check_backup_config(self.backup_dir, self.resumed_at, config)
            if config.export:
                try:
                    zoo_export.check_export_target(config.export_dir, config.export_name)
                except ValueError as error:
                    raise RunError(str(error)) from None
        (self.out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    def pipelines(self):
        """Step 3: the data batched at the global batch size, each worker's share of it."""
        config, data = self.config, self.data
        # Seeded after loading: preparing a dataset on first use draws random numbers, and a run
        # must not depend on whether its data were already prepared.
        keras.utils.set_random_seed(config.seed)
        train = zoo_data.pipeline(data.train, batch_size=config.batch_size, training=True,
                                  seed=config.seed, preprocess=data.preprocess, augment=data.augment)
        validation = None if data.validation is None else zoo_data.pipeline(
            data.validation, batch_size=config.batch_size, training=False, preprocess=data.preprocess)
        test = zoo_data.pipeline(data.test, batch_size=config.batch_size, training=False,
                                 preprocess=data.preprocess)
        if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            train, validation, test = (None if ds is None else _shard_by_data(ds) for ds in (train, validation, test))
        return train, validation, test

    def build(self, train):
        """Step 4: the catalog model, built and compiled in the strategy's scope, and the record
        `zoo.build(name, weights=run_dir)` checks its config against."""
        config = self.config
        previous_policy = keras.mixed_precision.dtype_policy()
        keras.mixed_precision.set_dtype_policy(config.precision)
        try:
            with self.strategy.scope():
                model_config = _model_config(config, self.data)
                model = zoo.build(config.model, **model_config)
                model.optimizer.learning_rate = config.learning_rate
                model.jit_compile = config.jit_compile
                model.steps_per_execution = _steps_per_execution(config, self.strategy, int(train.cardinality()))
        finally:
            keras.mixed_precision.set_dtype_policy(previous_policy)
        spec = get_spec(config.model)
        if spec.initialize is not None and self.resumed_at is None:
            # From the unshuffled, unsharded training split: every worker starts from the same values.
            data = self.data
            examples = data.train.map(data.preprocess) if data.preprocess else data.train
            spec.initialize(model, examples.batch(512))
        saving.write_model_record(self.out_dir, config.model, spec.resolve_config(model_config),
                                  head=heads.head_of(model))
        return model

    def train(self, model, train, validation) -> float:
        """Step 5: `fit` with the run's callbacks; returns the seconds it took."""
        config = self.config
        if self.is_chief and self.resumed_at is None:  # a fresh run: its backup says what made it
            self.backup_dir.mkdir(parents=True, exist_ok=True)
            (self.backup_dir / BACKUP_CONFIG).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        # Keras' live bar on a terminal or in a notebook; plain lines where output is kept (a pipe,
        # a file, CI) and from each of several workers (their bars would interleave).
        live = console.is_terminal() and self.role is None
        self._say_resuming()
        start = time.perf_counter()
        with multi_worker.keras_multi_worker_fix(self.strategy):
            try:
                model.fit(train, validation_data=validation, epochs=config.epochs,
                          callbacks=self._callbacks(live), shuffle=False,  # the pipeline shuffles, with the seed
                          verbose="auto" if config.progress == "batches" and live else 0)
                _check_finite_weights(model, config)
            except RunError:
                if self.is_chief:  # resuming would only diverge again
                    shutil.rmtree(self.backup_dir, ignore_errors=True)
                raise
        return time.perf_counter() - start

    def _callbacks(self, live: bool) -> list:
        config = self.config
        # Kept after `fit` (Keras would delete it there) and removed once the run has exported:
        # a run killed in between restarts from the trained weights instead of from scratch.
        backup = (keras.callbacks.BackupAndRestore(str(self.backup_dir), double_checkpoint=True,
                                                   delete_checkpoint=False)
                  if self.is_chief else
                  multi_worker.worker_backup_and_restore(str(self.backup_dir), str(self.scratch / "backup")))
        callbacks = [  # the history row is written before the backup that marks the epoch done
            _stop_on_non_finite(config),  # first: a diverged epoch must not reach the backup or checkpoint
            report.history_logger(self.out_dir / "history.csv", append=self.resumed_at is not None),
            keras.callbacks.TensorBoard(str(self.out_dir / "logs")),
            # The latest whole model, kept after training (the backup is removed when done).
            keras.callbacks.ModelCheckpoint(str(self.out_dir / "model.keras")),
            backup,
        ]
        if config.progress == "epochs":  # many one-step epochs: one bar, or about 10 lines
            callbacks.append(report.EpochProgress(config.epochs) if live
                             else report.EpochLines(config.epochs, every=max(1, config.epochs // 10)))
        elif config.progress == "batches" and not live:  # `zoo launch` prefixes each worker's lines
            callbacks.append(report.EpochLines(config.epochs))
        return callbacks

    def _say_resuming(self) -> None:
        resumed_at, epochs = self.resumed_at, self.config.epochs
        if resumed_at is not None and resumed_at >= epochs:
            print(f"Resuming from the backup in {self.backup_dir}: training had finished ({resumed_at} epochs), "
                  "so this run evaluates and exports the trained weights", flush=True)
        elif resumed_at is not None:
            print(f"Resuming from the backup in {self.backup_dir}"
                  + (f" after epoch {resumed_at}" if resumed_at else ""), flush=True)

    def evaluate(self, model, test, seconds: float):
        """Step 6: test metrics (with the predictive ones where the model has uncertainty),
        `metrics.json` and `curves.png`; returns (metrics, history)."""
        config = self.config
        with multi_worker.keras_multi_worker_fix(self.strategy):
            metrics = {key: float(value) for key, value in model.evaluate(test, verbose=0, return_dict=True).items()}
        mc_samples = getattr(config, "mc_samples", None)
        head = heads.get(heads.head_of(model))
        if mc_samples or head.predictive:
            metrics.update(_uncertainty_metrics(model, head, test, mc_samples or 1, self.out_dir, config, self.data))
        if self.data.evaluate is not None:
            metrics.update(self.data.evaluate(model, self.out_dir))
        history = report.read_history(self.out_dir / "history.csv")
        self._write_metrics(metrics, seconds, export=None)
        # Not on a non-chief worker (its files are thrown away), nor without a single epoch logged
        # (a worker's fresh scratch after a restart that had nothing left to train).
        if self.is_chief and history.get("loss"):
            report.plot_history(history, self.out_dir / "curves.png", title=f"{config.model} on {config.dataset}",
                                loss_label=getattr(model, "loss_description", None))
        return metrics, history

    def _write_metrics(self, metrics, seconds: float, export: str | None) -> None:
        config = self.config
        record = {"model": config.model, "dataset": config.dataset, "test": metrics, "epochs": config.epochs,
                  "train_seconds": round(seconds, 3), "export": export}
        (self.out_dir / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")

    def export(self, model, metrics, history, seconds: float) -> Path | None:
        """Step 7: a new SavedModel version with its card and warm-up requests; then the run is
        done, and its backup goes. Every worker exports (saving may need them all), the
        non-chief ones into their scratch; returns the chief's export path."""
        config, data = self.config, self.data
        export_path = None
        if config.export:
            raw = data.raw_input or (lambda x, y: x)
            warmup = np.stack([raw(x, y).numpy() for x, y in data.test.take(4)])
            card = {"recipe": _recipe_name(config), "config": config.to_dict(),
                    "dataset": {"name": config.dataset, "train_split": config.train_split,
                                "test_split": config.test_split, **data.metadata},
                    "metrics": {"test": metrics}, "training_seconds": round(seconds, 3),
                    "epochs": len(history.get("epoch", [])), "strategy": strategy_name(self.strategy)}
            export_path = zoo_export.export_model(
                model, self.scratch / "export" if self.scratch else config.export_dir, name=config.export_name,
                input_name=data.input_name, input_spec=data.input_spec, preprocessor=data.preprocessor, card=card,
                warmup_inputs=_as_serving_input(warmup, data.input_spec, model),
                mc_samples=getattr(config, "mc_samples", None) or None, target_scale=data.target_scale)
        if not self.is_chief:
            return None
        if export_path is not None:  # `zoo runs` shows where each run's model went
            self._write_metrics(metrics, seconds, export=str(export_path))
        shutil.rmtree(self.backup_dir, ignore_errors=True)  # a restart now would be a new run
        return export_path

    def summarize(self, metrics, seconds: float, export_path: Path | None) -> str:
        """Step 8: the one-line summary, and where the export went."""
        config = self.config
        summary = report.summary_line(config.model, config.dataset, metrics, epochs=config.epochs,
                                      seconds=seconds, strategy=strategy_name(self.strategy),
                                      resumed_at=self.resumed_at,
                                      export=str(export_path) if export_path else None,
                                      run_dir=str(self.model_dir) if self.is_chief else None,
                                      files=report.run_files(self.out_dir))
        if not self.is_chief:
            summary += f" | {multi_worker.describe(self.role)}: the chief writes the files"
        print(summary, flush=True)
        if export_path is not None:
            card = zoo_export.read_card(export_path)
            signatures = {"serving_default": card.get("outputs", []), **card.get("extra_signatures", {})}
            shown = "; ".join(f"{name}: {self.data.input_name} -> {', '.join(sorted(outputs))}"
                              for name, outputs in signatures.items())
            print(f"Exported SavedModel version {export_path.name} to {export_path}/ ({shown}). "
                  f"TensorFlow Serving serves {export_path.parent}/ "
                  f"as is; in Python: tf.saved_model.load({str(export_path)!r})", flush=True)
        return summary


def _choose_strategy(config: RecipeConfig, role: multi_worker.WorkerRole | None):
    """Step 2: the `tf.distribute` strategy the config asks for, checked against TF_CONFIG."""
    if config.cpu_devices:
        split_cpu(config.cpu_devices)
    strategy = select_strategy(config.strategy)
    if role is not None and not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        raise multi_worker.TFConfigError(
            f"TF_CONFIG describes a cluster of {role.num_workers} workers, but --strategy {config.strategy} "
            "trains on this machine alone. Use --strategy auto (or multi_worker), or unset TF_CONFIG.")
    return strategy


BACKUP_CONFIG = "zoo_config.json"  # beside Keras' backup: the config that made its weights
# Settings that change how a run is carried out or where it writes, not what its weights are:
# a run may resume a backup with other values of these (more epochs, another strategy).
RUN_CONTROL_FIELDS = frozenset({"epochs", "progress", "export", "export_dir", "export_name", "model_dir",
                                "data_dir", "strategy", "cpu_devices", "steps_per_execution", "jit_compile"})


def _check_backup_config(backup_dir: Path, resumed_at: int | None, config: RecipeConfig) -> None:
    """Refuses to resume a backup whose weights were trained with other settings than this
    command's: the export's card would describe weights it does not ship."""
    path = backup_dir / BACKUP_CONFIG
    if resumed_at is None or not path.exists():
        return  # nothing to resume, or a backup from before the config was kept beside it
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    current = config.to_dict()
    differs = sorted(key for key in set(saved) | set(current)
                     if key not in RUN_CONTROL_FIELDS and saved.get(key) != current.get(key))
    if differs:
        changes = ", ".join(f"{key}={saved.get(key)!r} (now {current.get(key)!r})" for key in differs)
        raise RunError(f"The backup in {backup_dir} holds weights trained with {changes}. Resuming it under "
                       "this command would export them with a card that describes other settings. Run the "
                       f"original command to finish that run, or remove {backup_dir} to start afresh.")


def _stop_on_non_finite(config: RecipeConfig):
    """A callback that stops `fit` at the end of the first epoch whose training loss is not
    finite, before that epoch's backup and checkpoint are written (Keras' TerminateOnNaN lets
    the epoch end and saves it). Epoch ends only: a batch hook would make Keras bring every
    step's loss back from the device."""
    class StopOnNonFinite(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not np.isfinite(float(np.asarray(loss))):
                raise RunError(_diverged(config, f"the training loss of epoch {epoch + 1} was "
                                                 f"{float(np.asarray(loss))}"))

    return StopOnNonFinite()


def _check_finite_weights(model, config: RecipeConfig) -> None:
    bad = [weight.path for weight in model.weights if not np.all(np.isfinite(np.asarray(weight)))]
    if bad:
        raise RunError(_diverged(config, f"{len(bad)} weight tensor(s) became NaN or infinite ({bad[0]}, ...)"))


def _diverged(config: RecipeConfig, what: str) -> str:
    return (f"Training diverged: {what} (learning_rate={config.learning_rate:g}). Nothing was exported, and the "
            "run's backup was removed (resuming would diverge again). Try a smaller --learning-rate.")


def _backup_epoch(backup_dir: Path) -> int | None:
    """The epochs a `BackupAndRestore` backup in `backup_dir` has completed, or None without one."""
    metadata = backup_dir / "training_metadata.json"
    if not metadata.exists():
        return None
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0  # unreadable: Keras falls back to its previous copy; say only that it resumes


def _shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Each worker takes its share of every global batch (the same examples a single process
    would see in that step), not whole files: TFDS splits are often a single file."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _model_config(config: RecipeConfig, data: RecipeData) -> dict[str, Any]:
    """The data's keys, the user's overrides, and for Bayesian models the training-set size
    (their KL weight is 1 / num_train_examples) unless the user set it."""
    merged = {**data.model_config, **config.model_config}
    if "num_train_examples" in zoo.describe(config.model).config and "num_train_examples" not in merged:
        count = int(data.train.cardinality())
        if count > 0:
            merged["num_train_examples"] = count
    return merged


def _uncertainty_metrics(model, head, test, samples: int, model_dir: Path, config, data) -> dict[str, float]:
    """Monte Carlo (or a GP's exact) predictive metrics on the test split, with a plot.

    Classifiers: MC accuracy, NLL, Brier, ECE and `reliability.png`; for images also how well
    the predictive entropy tells the test images from as many uniform-noise images
    (`ood_auroc`). Regressors: RMSE, Gaussian NLL, 95%-interval coverage and mean std, in
    target units, and `predictions.png`.
    """
    from zoo import uncertainty

    x, y = (np.concatenate(parts) for parts in zip(*[(a.numpy(), b.numpy()) for a, b in test]))
    result = uncertainty.predict_with_uncertainty(model, x, samples, head=head.name)
    title = f"{config.model} on {config.dataset}" + (f", {samples} samples" if samples > 1 else "")
    if not head.is_classifier:
        loc, scale = data.target_scale or (0.0, 1.0)
        mean, std, targets = loc + scale * result.mean, scale * result.std, loc + scale * y
        report.plot_predictions(mean, std, targets, model_dir / "predictions.png", title=title)
        return {"rmse": float(np.sqrt(np.mean((mean - targets.reshape(mean.shape)) ** 2))),
                "nll": uncertainty.gaussian_negative_log_likelihood(mean, std, targets),
                "coverage_95": uncertainty.interval_coverage(mean, std, targets, 0.95),
                "mean_std": float(np.mean(std))}
    uncertainty.reliability_diagram(result.probabilities, y, model_dir / "reliability.png", title=title)
    metrics = {"mc_accuracy": float(np.mean(result.classes == y)),
               "nll": uncertainty.negative_log_likelihood(result.probabilities, y),
               "brier": uncertainty.brier_score(result.probabilities, y),
               "ece": uncertainty.expected_calibration_error(result.probabilities, y)}
    if x.ndim == 4:  # images: raw pixels are 0-255 for every image model here
        noise = np.random.default_rng(config.seed).uniform(0, 255, size=x.shape).astype(x.dtype)
        noise_entropy = uncertainty.predict_with_uncertainty(model, noise, samples, head=head.name).entropy
        metrics["ood_auroc"] = uncertainty.auroc(result.entropy, noise_entropy)
    return metrics


def _steps_per_execution(config: RecipeConfig, strategy, steps_per_epoch: int) -> int:
    """The config's value, except:
    - 1 under several replicas: with Keras 3.15 / TF 2.21, `fit` under MirroredStrategy with
      steps_per_execution > 1 fails ("You must feed a value for placeholder tensor ...
      while/cond/Placeholder"), even with evenly split batches;
    - at most the steps in an epoch, or Keras' progress bar counts past the end ("16/11").
    """
    if config.steps_per_execution > 1 and strategy.num_replicas_in_sync > 1:
        print(f"Note: steps_per_execution {config.steps_per_execution} -> 1: Keras' fit fails with "
              "several steps per call under MirroredStrategy.", flush=True)
        return 1
    if steps_per_epoch > 0:
        return min(config.steps_per_execution, steps_per_epoch)
    return config.steps_per_execution


def _recipe_name(config: RecipeConfig) -> str:
    """The recipe's script name (`lenet_mnist`), also when it runs as `__main__`."""
    module = sys.modules.get(type(config).__module__)
    path = getattr(module, "__file__", None)
    return Path(path).stem if path else type(config).__module__


def _as_serving_input(examples: np.ndarray, input_spec, model) -> np.ndarray:
    """Raw test examples in the dtype the exported signature takes."""
    dtype = (input_spec or zoo_export.model_input_spec(model)).dtype
    return examples if dtype == tf.string else examples.astype(dtype.as_numpy_dtype)
