"""What a finished run leaves behind for people: training curves as a PNG, a one-line summary."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path


def history_logger(path: str | os.PathLike, *, append: bool = False):
    """Keras' `CSVLogger` with epochs counted from 1, as the progress lines and plots count them."""
    import keras

    class HistoryLogger(keras.callbacks.CSVLogger):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch + 1, logs)

    return HistoryLogger(str(path), append=append)


def read_history(path: str | os.PathLike) -> dict[str, list[float]]:
    """The per-epoch metrics Keras' `CSVLogger` wrote (all epochs, across resumed runs)."""
    rows = list(csv.DictReader(Path(path).read_text().splitlines()))
    # A run killed after its CSV row but before its backup repeats that epoch when resumed:
    # keep each epoch's last row.
    rows = list({row.get("epoch", str(i)): row for i, row in enumerate(rows)}.values())
    # CSVLogger writes "NA" for a metric an epoch did not report.
    return {key: [float("nan") if row[key] in ("NA", "", None) else float(row[key]) for row in rows]
            for key in (rows[0].keys() if rows else [])}


def plot_history(history: Mapping[str, list[float]], path: str | os.PathLike, *,
                 title: str = "", loss_label: str | None = None) -> Path:
    """Saves one panel per metric (training and validation together) as a PNG; returns its path.

    Epochs count from 1 on integer ticks. A panel whose values span more than a decade uses a
    log scale. `loss_label` names the loss (a GP's is its negative log marginal likelihood). A
    Bayesian model's history with `data_nll` (its data term) plots the loss as its two terms,
    the NLL and the KL term (loss - NLL), each on its own panel: the KL term is often far larger
    and would flatten the data term's curve.

    Example:
        >>> plot_history({"epoch": [1, 2], "loss": [0.9, 0.5], "val_loss": [1.0, 0.7]},
        ...              "/tmp/curves.png")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    figure = history_figure(history, title=title, loss_label=loss_label)
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def history_figure(history: Mapping[str, list[float]], *, title: str = "", loss_label: str | None = None):
    """The matplotlib figure `plot_history` saves (panels as described there)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    metrics = [key for key in history if key not in ("epoch", "learning_rate")
               and not key.startswith("val_")]
    if not metrics or not history[metrics[0]]:
        raise ValueError(f"No epochs to plot: the history has no metric values. Received columns: {list(history)}")
    epochs = [int(e) for e in history.get("epoch", range(1, len(history[metrics[0]]) + 1))]
    panels = []  # (title, {label: values})
    split = "data_nll" in history and "loss" in history
    for metric in metrics:
        if split and metric == "data_nll":
            continue
        if split and metric == "loss":
            panels.append(("data term: NLL per example", _series(history, "data_nll")))
            panels.append(("KL term per example (loss - NLL)", {
                label: [total - nll for total, nll in zip(history.get(f"{prefix}loss", []),
                                                          history.get(f"{prefix}data_nll", []))]
                for prefix, label in (("", "train"), ("val_", "validation")) if f"{prefix}data_nll" in history}))
            continue
        name = f"loss: {loss_label}" if metric == "loss" and loss_label else metric
        panels.append((name, _series(history, metric)))
    figure, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    for axis, (name, series) in zip(axes[0], panels):
        values = []
        for label, ys in series.items():
            if any(y == y for y in ys):  # not all NaN
                axis.plot(epochs[:len(ys)], ys, marker="o", markersize=3, label=label)
                values += [y for y in ys if y == y]
        positive = [v for v in values if v > 0]
        if positive and len(positive) == len(values) and max(positive) / min(positive) > 10:
            axis.set_yscale("log")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_title(name, fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def _series(history: Mapping[str, list[float]], metric: str) -> dict[str, list[float]]:
    series = {"train": list(history[metric])}
    if f"val_{metric}" in history:
        series["validation"] = list(history[f"val_{metric}"])
    return series


def plot_predictions(mean, std, targets, path: str | os.PathLike, *, title: str = "") -> Path:
    """Saves predicted means with 95% intervals against the true targets as a PNG.

    Points on the diagonal are exact; an honest model's bars cross it about 95% of the time.

    Example:
        >>> plot_predictions([1.0, 2.0], [0.1, 0.2], [1.1, 1.8], "/tmp/predictions.png")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    mean, std, targets = (np.asarray(a, np.float64).reshape(-1) for a in (mean, std, targets))
    inside = np.abs(targets - mean) <= 1.96 * std
    figure, axis = plt.subplots(figsize=(4.6, 4.4))
    for mask, colour, label in ((inside, "tab:blue", "target inside"), (~inside, "tab:red", "target outside")):
        axis.errorbar(targets[mask], mean[mask], yerr=1.96 * std[mask], fmt="o", markersize=3,
                      color=colour, alpha=0.6, elinewidth=0.8, label=f"{label} ({mask.sum()})")
    low, high = min(targets.min(), mean.min()), max(targets.max(), mean.max())
    axis.plot([low, high], [low, high], "k--", linewidth=1)
    axis.set_xlabel("true target")
    axis.set_ylabel("predicted mean ± 1.96 std")
    rmse = float(np.sqrt(np.mean((mean - targets) ** 2)))
    axis.set_title(f"{title or 'predictions'}\nRMSE {rmse:.4g}, 95% interval coverage {inside.mean():.1%}", fontsize=10)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def EpochProgress(epochs: int):
    """A Keras callback showing one progress bar over all epochs, with the latest metrics.

    Example:
        >>> model.fit(x, y, epochs=300, verbose=0, callbacks=[EpochProgress(300)])  # doctest: +SKIP
    """
    import keras

    class _EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = keras.utils.Progbar(epochs, unit_name="epoch")

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.stateful_metrics |= set(logs)  # the latest values, not a running average
            self.bar.update(epoch + 1, values=list(logs.items()), finalize=epoch + 1 >= epochs)

    return _EpochProgress()


def EpochLines(epochs: int, *, every: int = 1, prefix: str = ""):
    """A Keras callback printing one plain line per epoch, for output that is not a terminal
    (CI logs, `| tee`, files), where Keras' bar would leave escape codes and redrawn bars.
    `every=N` prints every Nth epoch, the first and the last.

    Example:
        >>> model.fit(x, y, epochs=3, verbose=0, callbacks=[EpochLines(3)])  # doctest: +SKIP
        epoch 1/3: loss 0.5123, accuracy 0.8400 (1.2 s)
    """
    import time

    import keras

    class _EpochLines(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            done = epoch + 1
            if done % every and done not in (1, epochs):
                return
            shown = ", ".join(f"{key} {_number(value)}" for key, value in (logs or {}).items()
                              if key != "learning_rate")
            print(f"{prefix}epoch {done}/{epochs}: {shown} ({time.perf_counter() - self.started:.1f} s)",
                  flush=True)

    return _EpochLines()


def _number(value) -> str:
    value = float(value)
    return f"{value:.4g}" if abs(value) >= 1000 or (value != 0 and abs(value) < 1e-3) else f"{value:.4f}"


def summary_line(model: str, dataset: str, metrics: Mapping[str, float], *, epochs: int,
                 seconds: float, strategy: str, export: str | None, run_dir: str | None = None,
                 files: list[str] | None = None, resumed_at: int | None = None) -> str:
    """`lenet on digits: test accuracy 0.9917, loss 0.0311 | 60 epochs in 14.8 s | ...`, then
    the export, the run directory with the files it holds, and the TensorBoard command; a run
    resumed from a backup after epoch `resumed_at` says how many epochs it trained itself
    (`60 epochs, 3 of them after resuming, in 1.2 s`)."""
    shown = ", ".join(f"{key} {value:.4f}" for key, value in metrics.items())
    trained = f"{epochs} epochs" if resumed_at is None else \
        f"{epochs} epochs, {max(0, epochs - resumed_at)} of them after resuming,"
    parts = [f"{model} on {dataset}: test {shown}", f"{trained} in {seconds:.1f} s on {strategy}",
             f"export: {export}" if export else "not exported"]
    if run_dir:
        parts.append(f"run: {run_dir}/" + (f" ({', '.join(files)})" if files else ""))
        parts.append(f"TensorBoard: tensorboard --logdir {run_dir}/logs")
    return " | ".join(parts)


# What a run directory holds for people, in the order the summary lists them.
RUN_FILES = ("curves.png", "reliability.png", "predictions.png", "metrics.json", "history.csv", "model.keras")


def run_files(run_dir: str | os.PathLike) -> list[str]:
    """The files of `RUN_FILES` that `run_dir` holds."""
    return [name for name in RUN_FILES if (Path(run_dir) / name).exists()]


def list_runs(root: str | os.PathLike = "runs") -> list[dict]:
    """Every run directory under `root` (newest first), from the files it wrote: model, dataset,
    epochs done, test metrics, export, and whether it finished (`metrics.json`) or stopped.

    Example:
        >>> list_runs("/nonexistent")
        []
    """
    import json

    runs = []
    root = Path(root)
    directories = [d for d in root.iterdir() if d.is_dir()] if root.is_dir() else []
    for directory in directories:
        config_path, metrics_path = directory / "config.json", directory / "metrics.json"
        if not config_path.exists():
            continue  # not a run directory
        try:
            config = json.loads(config_path.read_text())
            record = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
        except (OSError, ValueError):
            continue
        history = directory / "history.csv"
        done = len(read_history(history).get("epoch", [])) if history.exists() else 0
        runs.append({"run": str(directory), "model": config.get("model"), "dataset": config.get("dataset"),
                     "epochs": record.get("epochs", done) if record else done, "planned_epochs": config.get("epochs"),
                     "finished": bool(record), "test": record.get("test", {}), "export": record.get("export"),
                     "modified": max(p.stat().st_mtime for p in (config_path, metrics_path, history) if p.exists())})
    return sorted(runs, key=lambda run: -run["modified"])
