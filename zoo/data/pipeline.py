"""`pipeline`: a tf.data input pipeline as TensorFlow's performance guide recommends.

Order, and why: `map` (parallel, deterministic) → `cache` (preprocessing runs once, not every
epoch) → `shuffle` (after the cache, so each epoch gets a new order; seeded) → `batch` at the
*global* batch size (a `tf.distribute` strategy splits each batch across replicas when the
dataset is passed to `fit`) → optional per-batch `augment` (after the cache, so every epoch
sees new distortions) → `prefetch(AUTOTUNE)` (the next batch is made while the model trains).
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
MAX_SHUFFLE_BUFFER = 100_000  # a full shuffle of MNIST-sized splits; bounded for big ones
DEFAULT_SHUFFLE_BUFFER = 10_000  # when the split's size is unknown


def pipeline(dataset: tf.data.Dataset, *, batch_size: int, training: bool,
             seed: int | None = None, preprocess: Callable | None = None,
             augment: Callable | None = None, cache: bool = True,
             drop_remainder: bool = False) -> tf.data.Dataset:
    """Batches `dataset` of (x, y) pairs for `fit` (training=True) or `evaluate`.

    Training pipelines are shuffled (seeded: the same seed gives the same batches) and
    augmented; evaluation pipelines keep the split's order and are never augmented.
    `preprocess(x, y)` runs per example before the cache; `augment(x, y)` per batch after it.

    Example:
        >>> import tensorflow as tf
        >>> ds = tf.data.Dataset.from_tensor_slices(([[1.0], [2.0], [3.0]], [0, 1, 0]))
        >>> [x.shape[0] for x, _ in pipeline(ds, batch_size=2, training=True, seed=0)]
        [2, 1]
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    options = tf.data.Options()
    options.deterministic = True  # parallel map keeps the input order: runs are repeatable
    dataset = dataset.with_options(options)
    if preprocess is not None:
        dataset = dataset.map(preprocess, num_parallel_calls=AUTOTUNE, deterministic=True)
    if cache:
        dataset = dataset.cache()
    if training:
        size = int(dataset.cardinality())
        buffer = min(size, MAX_SHUFFLE_BUFFER) if size > 0 else DEFAULT_SHUFFLE_BUFFER
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder,
                            num_parallel_calls=AUTOTUNE, deterministic=True)
    if training and augment is not None:
        dataset = dataset.map(augment, num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.prefetch(AUTOTUNE)
