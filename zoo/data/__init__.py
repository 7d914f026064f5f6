"""Datasets: TFDS loading that fails fast offline, input pipelines, bundled offline datasets.

`load` is the one way recipes get data: any TFDS name, prepared into `data_dir` on first use.
The bundled datasets (`digits`, `iris_offline`, `diabetes`) are real TFDS datasets built from data that
ships inside installed packages, so they work with no internet.

Example:
    >>> from zoo import data
    >>> train, info = data.load("digits", "train")  # doctest: +SKIP
    >>> batches = data.pipeline(train, batch_size=128, training=True, seed=0)  # doctest: +SKIP
"""

from zoo.data.loading import BUNDLED, DatasetUnavailableError, load
from zoo.data.pipeline import pipeline

__all__ = ["BUNDLED", "DatasetUnavailableError", "load", "pipeline"]
