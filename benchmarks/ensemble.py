"""The cost of a deep ensemble: one `zoo.build(name, ensemble_size=N)` model against N separate
models trained and run one after another, and against one model.

    python benchmarks/ensemble.py  [--members 5] [--repeats 3] [--examples 60000] [--model lenet]

Side by side in one run, in alternating order, median of `--repeats`, at the recipe's settings
(tf.data pipeline, batch size, steps_per_execution of `recipes/lenet_mnist.py`):
  train    seconds for one epoch over `--examples` MNIST-shaped images (the bundled digits,
           repeated), first batch to last, after a warm-up epoch: (a) the ensemble, (b) N separate models, each
           fitted for one epoch, one after another (the sum), (c) one model;
  predict  seconds for `model.predict` over the same images at batch 1024, likewise.
Both run with tf.data's autotuning off (for every variant alike): see `runners` for why.
The ratio the issue targets is (a) / (b): at most 1.2, and below 1 is the point (one pass over
the data and one call per step for all members).

`--layout` also times why members are branches of one graph and not one wide layer: a training
step (forward and gradient) of LeNet's two convolutions for N members, as N branches against
one grouped `Conv2D(groups=N)` over N copies of the input (stacked weights).

Results, dated and with their command: benchmarks/RESULTS.md (the README keeps a headline).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import mnist_shaped, recipe_config  # noqa: E402


def runners(model_name: str, images, labels, members: int):
    """{name: (train one epoch, predict once)}, each returning the seconds it took."""
    import keras
    import tensorflow as tf

    import zoo
    from zoo import data

    config = recipe_config(model_name)
    # tf.data's autotuning thread sleeps 10 ms, 20 ms, 40 ms, ... between its rounds, and
    # deleting an iterator waits for its current sleep: every `fit` or `predict` call then ends
    # at 0.63, 1.27, 2.55, 5.11 or 10.23 s after it began, whatever the model did. Measured
    # here: with autotuning, an ensemble's 6,144-image `fit` returned at 10.23 s in 3 of 5
    # calls whose batches had ended at 9.5-9.9 s; without it, never later than its last batch.
    # It costs a recipe once per run, but it would quantise these per-call timings.
    options = tf.data.Options()
    options.autotune.enabled = False
    examples = tf.data.Dataset.from_tensor_slices((images, labels))
    batches = data.pipeline(examples, batch_size=config.batch_size, training=True, seed=0,
                            preprocess=lambda x, y: (tf.cast(x, tf.float32), y)).with_options(options)
    x = tf.data.Dataset.from_tensor_slices(images.astype("float32")).batch(1024).with_options(options)

    def make(size: int):
        model = zoo.build(model_name, ensemble_size=size)
        model.steps_per_execution = config.steps_per_execution
        model.jit_compile = config.jit_compile
        return model

    class EpochTime(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    def timed(models):
        def train():
            # The epoch as `fit` runs it (first batch to last), not `fit`'s own start-up and
            # tear-down: a recipe calls `fit` once for all its epochs.
            seconds = 0.0
            for model in models:
                clock = EpochTime()
                model.fit(batches, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
                seconds += clock.seconds
            return seconds

        def predict():
            start = time.perf_counter()
            for model in models:
                model.predict(x, verbose=0)
            return time.perf_counter() - start

        train(), predict()  # warm-up: tracing, allocation, the pipeline's cache
        return train, predict

    keras.utils.set_random_seed(0)
    return {f"(a) ensemble of {members}: one model": timed([make(members)]),
            f"(b) {members} separate models, one after another": timed([make(1) for _ in range(members)]),
            "(c) one model": timed([make(1)])}


def layout_step_times(members: int, repeats: int = 30) -> dict[str, float]:
    """Milliseconds per training step of N members' conv stacks: branches vs grouped convs."""
    import keras
    import numpy as np
    import tensorflow as tf

    x = np.random.default_rng(0).uniform(0, 1, (128, 28, 28, 1)).astype("float32")

    def branches():
        inputs, outputs = keras.Input((28, 28, 1)), []
        for _ in range(members):
            h = keras.layers.Conv2D(6, 5, padding="same", activation="relu")(inputs)
            h = keras.layers.Conv2D(16, 5, activation="relu")(keras.layers.MaxPooling2D()(h))
            outputs.append(keras.layers.MaxPooling2D()(h))
        return keras.Model(inputs, outputs)

    def grouped():
        inputs = keras.Input((28, 28, 1))
        h = keras.layers.Concatenate()([inputs] * members)
        h = keras.layers.Conv2D(6 * members, 5, padding="same", activation="relu", groups=members)(h)
        h = keras.layers.Conv2D(16 * members, 5, activation="relu", groups=members)(keras.layers.MaxPooling2D()(h))
        return keras.Model(inputs, keras.layers.MaxPooling2D()(h))

    times = {}
    for make in (branches, grouped):
        model = make()

        @tf.function
        def step(batch):
            with tf.GradientTape() as tape:
                loss = tf.add_n([tf.reduce_sum(out) for out in tf.nest.flatten(model(batch))])
            return tape.gradient(loss, model.trainable_variables)

        step(x)
        start = time.perf_counter()
        for _ in range(repeats):
            step(x)
        times[make.__name__] = (time.perf_counter() - start) / repeats * 1000
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--examples", type=int, default=60000, help="MNIST has 60,000")
    parser.add_argument("--model", default="lenet")
    parser.add_argument("--layout", action="store_true", help="also time branches vs grouped convolutions")
    args = parser.parse_args()
    if args.layout:
        times = layout_step_times(args.members)
        print(f"{args.members} members' conv stacks, one training step on 128 images: branches "
              f"{times['branches']:.0f} ms, grouped Conv2D {times['grouped']:.0f} ms "
              f"({times['grouped'] / times['branches']:.1f}x)\n")
    images, labels = mnist_shaped(args.examples)
    print(f"{args.model}, {args.examples} MNIST-shaped images, {args.repeats} alternating repeats, "
          f"{os.cpu_count()} CPU cores; seconds, median (min-max)\n")
    timers = runners(args.model, images, labels, args.members)
    times = {(name, step): [] for name in timers for step in ("train", "predict")}
    for _ in range(args.repeats):  # alternate, so drifting machine load hits all alike
        for name, (train, predict) in timers.items():
            times[name, "train"].append(train())
            times[name, "predict"].append(predict())
    print({f"{name}/{step}": [round(t, 3) for t in values] for (name, step), values in times.items()})
    for step, what in (("train", "one epoch"), ("predict", "predict, batch 1024")):
        print(f"{step} ({what}):")
        medians = {name: statistics.median(times[name, step]) for name in timers}
        ensemble, separate, single = medians.values()
        for name in timers:
            values = times[name, step]
            print(f"  {name:<48} {medians[name]:7.2f} s  ({min(values):.2f}-{max(values):.2f})")
        print(f"  ensemble / separate = {ensemble / separate:.2f}x   ensemble / one model = {ensemble / single:.2f}x "
              f"(one model x {args.members} = {args.members:.2f}x)\n")


if __name__ == "__main__":
    main()
