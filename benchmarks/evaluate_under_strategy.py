"""How often Keras' `evaluate` under a tf.distribute strategy sees every test example:
a plain `Dataset.cache()` pipeline vs. `zoo.data.pipeline` (which fills its cache first).

    python benchmarks/evaluate_under_strategy.py  [--calls 400] [--strategy one_device]

Not a speed benchmark: a count. Under any strategy but the default one, Keras reads one batch
from a first iterator (its "symbolic build"), drops it and starts the real pass while the
dropped iterator may still be filling the in-memory cache; TensorFlow 2.21's cache is not safe
for two overlapping iterators, and the real pass can end early without an error. Each call
evaluates a `lenet` on the bundled 360 test digits with a metric that counts the examples it
saw; the two pipelines alternate, and every call builds its pipeline afresh (a new cache).
The race is rare (a few per thousand calls), so use hundreds of calls; a busy machine makes it
more likely.

Results, dated and with their command: benchmarks/RESULTS.md (the README keeps a headline).
"""

from __future__ import annotations

import argparse
import collections
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

BATCH_SIZE = 128


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400, help="evaluate calls per pipeline (default 400)")
    parser.add_argument("--strategy", choices=("one_device", "mirrored"), default="one_device",
                        help="one_device (default) or mirrored over 2 logical CPU devices")
    parser.add_argument("--steps-per-execution", type=int, default=10,
                        help="Keras steps_per_execution (default 10, the recipe's value for 10-batch "
                             "epochs; the runner uses 1 under several replicas)")
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error(f"--calls must be at least 1. Received: {args.calls}")

    from zoo.training.strategy import select_strategy, split_cpu

    split_cpu(2)  # before TensorFlow starts; `mirrored` uses both, `one_device` one
    import keras
    import tensorflow as tf

    import zoo
    from zoo import data
    from zoo.data.digits import digits_arrays

    class Count(keras.metrics.Metric):
        """Examples seen in this evaluate call."""

        def __init__(self, name="examples", **kwargs):
            super().__init__(name=name, **kwargs)
            self.seen = self.add_variable(shape=(), initializer="zeros", name="seen", dtype="int64")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.seen.assign_add(tf.shape(y_true, out_type=tf.int64)[0])

        def result(self):
            return self.seen

    images, labels = digits_arrays("test")
    examples = tf.data.Dataset.from_tensor_slices((images, labels))
    to_float = lambda x, y: (tf.cast(x, tf.float32), y)  # noqa: E731
    pipelines = {
        "plain cache()": lambda: examples.map(to_float, num_parallel_calls=tf.data.AUTOTUNE,
                                              deterministic=True)
        .cache().batch(BATCH_SIZE).prefetch(tf.data.AUTOTUNE),
        "zoo.data.pipeline": lambda: data.pipeline(examples, batch_size=BATCH_SIZE, training=False,
                                                   preprocess=to_float),
    }
    strategy = select_strategy(args.strategy)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = zoo.build("lenet", input_shape=images.shape[1:], num_classes=10)
        model.compile(optimizer=model.optimizer, loss=model.loss, metrics=[Count()])
    model.steps_per_execution = args.steps_per_execution

    seen = {name: collections.Counter() for name in pipelines}
    progress = keras.utils.Progbar(args.calls * len(pipelines), unit_name="call")
    for _ in range(args.calls):
        for name, make in pipelines.items():
            seen[name][int(model.evaluate(make(), verbose=0, return_dict=True)["examples"])] += 1
            progress.add(1)

    print(f"\n{args.strategy}, steps_per_execution {args.steps_per_execution}, "
          f"{args.calls} calls each, {len(images)} test examples:")
    for name, counts in seen.items():
        short = sorted(n for n, times in counts.items() for _ in range(times) if n != len(images))
        print(f"  {name:18} every example: {counts[len(images)]}/{args.calls}"
              + (f"; short: {short}" if short else ""))
    if seen["zoo.data.pipeline"][len(images)] != args.calls:
        raise SystemExit("zoo.data.pipeline lost examples: the filled cache did not prevent the race.")


if __name__ == "__main__":
    main()
