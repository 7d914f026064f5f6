"""What a finished run leaves behind for people: training curves as a PNG, a one-line summary."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path


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
                 title: str = "") -> Path:
    """Saves one panel per metric (training and validation together) as a PNG; returns its path.

    Example:
        >>> plot_history({"epoch": [0, 1], "loss": [0.9, 0.5], "val_loss": [1.0, 0.7]},
        ...              "/tmp/curves.png")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    metrics = [key for key in history if key not in ("epoch", "learning_rate")
               and not key.startswith("val_")]
    epochs = [int(e) + 1 for e in history.get("epoch", range(len(history[metrics[0]])))]
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.4), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        axis.plot(epochs, history[metric], marker="o", markersize=3, label="train")
        if any(value == value for value in history.get(f"val_{metric}", [])):  # not all NaN
            axis.plot(epochs, history[f"val_{metric}"], marker="o", markersize=3, label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def summary_line(model: str, dataset: str, metrics: Mapping[str, float], *, epochs: int,
                 seconds: float, strategy: str, export: str | None, curves: str) -> str:
    """`lenet on digits: test accuracy 0.9917, loss 0.0311 | 60 epochs in 14.8 s | ...`"""
    shown = ", ".join(f"{key} {value:.4f}" for key, value in metrics.items())
    parts = [f"{model} on {dataset}: test {shown}", f"{epochs} epochs in {seconds:.1f} s on {strategy}",
             f"export: {export}" if export else "not exported", f"curves: {curves}"]
    return " | ".join(parts)
