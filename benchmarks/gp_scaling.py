"""Exact GP regression against sparse variational GPs as the training set grows.

    python benchmarks/gp_scaling.py  [--sizes 1000,4000,16000,100000] [--inducing 64,256] [--seed 0]

One smooth synthetic problem (4 standardised features, f(x) = sin(2·x0) + 0.5·cos(3·x1) +
0.3·x2·x3, Normal noise of std 0.3) at growing training-set sizes n, a fixed test set of 4,000
points, and per n, side by side in one run:
  exact    `gp_regressor`: 100 full-batch Adam steps (lr 0.1) on the exact marginal likelihood,
           then the predictive conditioned on all n points; O(n³) time, O(n²) memory;
  svgp M   `svgp_regressor` with M inducing inputs (k-means++ on the data, as `zoo train`
           starts them): minibatch Adam (batch 512, lr 0.01) on the ELBO for
           max(20, 3000 / steps per epoch) epochs, so small sets get as many steps as large ones.
Each configuration runs in its own process, so its peak memory (maximum resident set) is its
own. Reported: training seconds (and seconds per epoch / per step), peak memory, test RMSE
and test NLL per example. The exact GP is not run where its kernel matrix alone would not fit
in memory, and a configuration that exceeds `--timeout` seconds is stopped: the table says
which, and from one measured step what the whole would have taken.

Targets (issue 19): where both run, SVGP with M = 256 within 5% of the exact GP's test NLL;
SVGP's time per epoch growing linearly in n.

Results, dated and with their command: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FEATURES, NOISE_STD, TEST_SIZE = 4, 0.3, 4000
EXACT_STEPS, SVGP_STEPS, BATCH = 100, 3000, 512


def problem(n: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, FEATURES))
    f = np.sin(2 * x[:, 0]) + 0.5 * np.cos(3 * x[:, 1]) + 0.3 * x[:, 2] * x[:, 3]
    return x.astype("float32"), (f + NOISE_STD * rng.standard_normal(n)).astype("float32")


def run_one(kind: str, n: int, inducing: int, seed: int, steps: int | None) -> dict:
    """Trains one configuration in this process; returns its measurements."""
    import keras
    import numpy as np

    import zoo
    from zoo.layers import sparse_gp

    keras.utils.set_random_seed(seed)
    x, y = problem(n, seed)
    x_test, y_test = problem(TEST_SIZE, seed + 1000)
    record = {"kind": kind, "n": n, "inducing": inducing}
    start = time.perf_counter()
    if kind == "exact":
        model = zoo.build("gp_regressor", input_shape=(FEATURES,), num_train_examples=n)
        model.optimizer.learning_rate = 0.1
        model.fit(x, y, epochs=steps or EXACT_STEPS, verbose=0)
        record.update(steps=steps or EXACT_STEPS)
    else:
        model = zoo.build("svgp_regressor", input_shape=(FEATURES,), num_inducing=inducing, num_train_examples=n)
        sparse_gp.initialize_inducing_points(model, x, seed=seed)
        steps_per_epoch = -(-n // BATCH)
        epochs = max(20, -(-SVGP_STEPS // steps_per_epoch))
        history = model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0,
                            callbacks=[_EpochTimer(record)])
        times = sorted(record.pop("epoch_seconds"))
        record.update(epochs=epochs, steps=epochs * steps_per_epoch, final_loss=history.history["loss"][-1],
                      epoch_seconds=times[len(times) // 2])  # the median epoch
    record["train_seconds"] = time.perf_counter() - start
    mean, std = model.predict(x_test, batch_size=1024, verbose=0).T
    record["rmse"] = float(np.sqrt(np.mean((mean - y_test) ** 2)))
    record["nll"] = float(np.mean(0.5 * np.log(2 * np.pi * std**2) + 0.5 * ((y_test - mean) / std) ** 2))
    record["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return record


class _EpochTimer:
    """Seconds per epoch after the first (which compiles): a Keras callback built lazily."""

    def __new__(cls, record):
        import keras

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                if epoch > 0:
                    record.setdefault("epoch_seconds", []).append(time.perf_counter() - self.start)

        return Timer()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,4000,16000,100000")
    parser.add_argument("--inducing", default="64,256")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per configuration")
    parser.add_argument("--one", nargs=3, metavar=("KIND", "N", "M"), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        kind, n, m = args.one
        print("RESULT " + json.dumps(run_one(kind, int(n), int(m), args.seed, args.steps)), flush=True)
        return 0

    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        configs = [("exact", 0)] + [("svgp", int(m)) for m in args.inducing.split(",")]
        for kind, m in configs:
            kernel_gb = n * n * 8 / 2**30  # one float64 n x n matrix; the Cholesky and gradients need several
            if kind == "exact" and 3 * kernel_gb > memory_gb:
                rows.append({"kind": kind, "n": n, "inducing": m,
                             "skipped": f"3 n x n float64 matrices need {3 * kernel_gb:.0f} GB; this machine has "
                                        f"{memory_gb:.0f} GB"})
                print(json.dumps(rows[-1]), flush=True)
                continue
            rows.append(_run_child(kind, n, m, args.seed, args.timeout))
            print(json.dumps(rows[-1]), flush=True)
    print("ROWS " + json.dumps(rows))
    _print_table(rows)
    return 0


def _run_child(kind: str, n: int, m: int, seed: int, timeout: float, steps: int | None = None) -> dict:
    command = [sys.executable, __file__, "--one", kind, str(n), str(m), "--seed", str(seed)]
    if steps:
        command += ["--steps", str(steps)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        row = {"kind": kind, "n": n, "inducing": m, "skipped": f"stopped after {timeout:.0f} s"}
        if kind == "exact" and not steps:  # how long would it have taken? time two steps
            probe = _run_child(kind, n, m, seed, timeout, steps=2)
            if "train_seconds" in probe:
                row["skipped"] += (f"; 2 steps took {probe['train_seconds']:.0f} s and {probe['peak_mb'] / 1024:.1f} GB, "
                                   f"so {EXACT_STEPS} would take about {probe['train_seconds'] / 2 * EXACT_STEPS / 3600:.1f} h")
        return row
    if done.returncode != 0:
        return {"kind": kind, "n": n, "inducing": m, "skipped": "failed: " + done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.split("RESULT ")[-1])


def _print_table(rows) -> None:
    print("| n | model | train s | s / epoch | peak memory | test RMSE | test NLL |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        name = "exact GP" if row["kind"] == "exact" else f"SVGP M={row['inducing']}"
        if "skipped" in row:
            print(f"| {row['n']:,} | {name} | {row['skipped']} | | | | |")
            continue
        epoch = row.get("epoch_seconds")
        per_epoch = f"{epoch:.3f}" if epoch else f"{row['train_seconds'] / row['steps']:.2f} (1 step)"
        print(f"| {row['n']:,} | {name} | {row['train_seconds']:.1f} | {per_epoch} | {row['peak_mb'] / 1024:.2f} GB "
              f"| {row['rmse']:.4f} | {row['nll']:.4f} |")


if __name__ == "__main__":
    raise SystemExit(main())
