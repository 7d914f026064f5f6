"""Monte Carlo prediction speed: `predict_with_uncertainty` vs. a loop of `predict` calls.

    python benchmarks/mc_prediction.py [--samples 32] [--repeats 5]

On the bundled digits test set (360 images), for `bayesian_lenet` (weights sampled per call)
and `lenet` with MC dropout: (a) `zoo.uncertainty.predict_with_uncertainty(model, x, S)`,
one compiled call per batch; (b) the common way, `np.stack([model.predict(x) for _ in
range(S)])`; (c) the floor: S deterministic forward passes of the same layers (`lenet` with
dropout off; for `bayesian_lenet`, `lenet` without dropout, its deterministic twin) done the
fastest way, one compiled call on the batch tiled S times. Alternating repeats in one run,
median seconds (min-max), and the ratios (b)/(a) and (a)/(c) (target: (a) <= 2x (c)).

Results, dated and with their command: benchmarks/RESULTS.md (the README keeps a headline).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import tensorflow as tf

    import zoo
    from zoo import uncertainty
    from zoo.data.digits import digits_arrays

    images, _ = digits_arrays("test")
    x = images.astype("float32")
    models = {"bayesian_lenet": (zoo.build("bayesian_lenet", num_train_examples=1437), zoo.build("lenet", dropout=0.0)),
              "lenet (mc_dropout)": (zoo.build("lenet", mc_dropout=True), zoo.build("lenet"))}
    print(f"{len(x)} digits, S={args.samples} samples, {args.repeats} alternating repeats; median seconds (min-max)\n")
    for name, (model, twin) in models.items():
        tiled = tf.constant(np.tile(x, (args.samples, 1, 1, 1)))
        deterministic = tf.function(lambda batch, twin=twin: twin(batch, training=False))
        ways = {
            "(a) predict_with_uncertainty": lambda: uncertainty.predict_with_uncertainty(model, x, args.samples),
            "(b) loop of model.predict": lambda: np.stack([model.predict(x, verbose=0) for _ in range(args.samples)]),
            f"(c) {args.samples} deterministic passes": lambda: deterministic(tiled).numpy(),
        }
        for way in ways.values():
            way()  # warm-up: tracing
        times = {label: [] for label in ways}
        for _ in range(args.repeats):
            for label, way in ways.items():
                start = time.perf_counter()
                way()
                times[label].append(time.perf_counter() - start)
        fast, slow, floor = (statistics.median(t) for t in times.values())
        print(f"{name}:")
        for label, values in times.items():
            print(f"  {label:<32} {statistics.median(values):7.3f} s  ({min(values):.3f}-{max(values):.3f})")
        print(f"  speed-up (b)/(a): {slow / fast:.1f}x; cost over the deterministic floor (a)/(c): "
              f"{fast / floor:.2f}x (target <= 2x)\n")

if __name__ == "__main__":
    main()
