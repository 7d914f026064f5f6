"""`pipeline`: a tf.data input pipeline as TensorFlow's performance guide recommends.

Order, and why: `map` (parallel, deterministic) → `cache` (preprocessing runs once, not every
epoch; filled before the pipeline is returned, see `_fill_cache`) → `shuffle` (after the cache,
so each epoch gets a new order; seeded) → `batch` at the *global* batch size (a
`tf.distribute` strategy splits each batch across replicas when the dataset is passed to
`fit`) → optional per-batch `augment` (after the cache, so every epoch sees new distortions)
→ `prefetch(AUTOTUNE)` (the next batch is made while the model trains). Without tf.data's
autotuning thread (see `pipeline`).
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
    With `cache=True` (the default) the split is read and preprocessed once, here, before
    the pipeline is returned; `cache=False` for splits that do not fit in memory.

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
    # No autotuning thread. `fit` makes a new iterator every epoch, and in TensorFlow 2.21
    # destroying the old one waits for that thread to wake from its sleep, which doubles every
    # optimisation round: LeNet's 3 s MNIST epochs stalled 2-2.4 s at every other start with
    # both cores idle (half the throughput in benchmarks/train_throughput.py), and longer epochs
    # sleep longer. AUTOTUNE parallelism and prefetching still apply, at fixed defaults: a
    # CPU-bound parallel map ran exactly as fast without the thread on this machine.
    options.autotune.enabled = False
    dataset = dataset.with_options(options)
    if preprocess is not None:
        dataset = dataset.map(preprocess, num_parallel_calls=AUTOTUNE, deterministic=True)
    if cache:
        dataset = _fill_cache(dataset.cache())
    if training:
        size = int(dataset.cardinality())
        buffer = min(size, MAX_SHUFFLE_BUFFER) if size > 0 else DEFAULT_SHUFFLE_BUFFER
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder,
                            num_parallel_calls=AUTOTUNE, deterministic=True)
    if training and augment is not None:
        dataset = dataset.map(augment, num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.prefetch(AUTOTUNE)


def _fill_cache(cached: tf.data.Dataset) -> tf.data.Dataset:
    """Reads `cached` (a `Dataset.cache()` in memory) to its end once, so it is complete.

    Why now and not on the first epoch: under any `tf.distribute` strategy, Keras' `fit` and
    `evaluate` take one batch from a first iterator, drop it, then start the real pass while
    the dropped iterator may still be filling the cache. TensorFlow's in-memory cache is not
    safe for two overlapping iterators: a writer being torn down checks that the cache is
    incomplete and then clears it, not atomically, so it can clear a cache that another
    iterator has just completed and is reading, and that pass ends early without an error
    (`benchmarks/evaluate_under_strategy.py` counts how often). A complete cache is only ever
    read. The cost is the first epoch's read, done before `fit` instead of during it.

    Example:
        >>> import tensorflow as tf
        >>> ds = _fill_cache(tf.data.Dataset.range(3).cache())
        >>> [int(x) for x in ds]
        [0, 1, 2]
    """
    if cached.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError("Cannot cache an infinite dataset in memory (its cardinality is infinite, "
                         "e.g. after `repeat()`). Pass `cache=False`, or repeat after the pipeline.")
    cached.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1)
    return cached
