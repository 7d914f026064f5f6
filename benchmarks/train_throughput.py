"""Training throughput of `lenet` and `lenet5`: the recipe's way vs. two common baselines.

    pip install -e ".[bench]"              # adds PyTorch's CPU build (benchmark only)
    python benchmarks/train_throughput.py  [--repeats 5] [--examples 60000] [--sweep]

For each model, side by side in one run, in alternating order, median of `--repeats`:
  (a) recipe   the recipe's tf.data pipeline (zoo.data.pipeline) and settings (batch size,
               steps_per_execution, jit_compile from the recipe's Config);
  (b) numpy    the same Keras model fed NumPy arrays with `model.fit` defaults (batch 32),
               as short tutorials do;
  (c) torch    an equivalent PyTorch CPU loop: same layers and sizes, Adam, cross-entropy,
               a DataLoader over tensors at the recipe's batch size;
  (d) torch.compile  the same loop with the model wrapped in `torch.compile` (TorchInductor,
               which compiles C++ for the CPU with the machine's compiler; the warm-up epoch
               takes the compilation).
Throughput is training examples per second over one epoch, after a warm-up epoch (graph
tracing and allocation are not counted). Data: the bundled digits in MNIST's 28x28 format,
repeated to `--examples` images. `--sweep` also times other recipe settings (batch size,
steps_per_execution, jit_compile, mixed precision) to show why the defaults are what they are.

Results, dated and with their command: benchmarks/RESULTS.md (the README keeps a headline).
"""

from __future__ import annotations

import argparse
import os
import runpy
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def mnist_shaped(examples: int):
    from zoo.data.digits import digits_arrays

    images, labels = digits_arrays("train")
    reps = -(-examples // len(images))
    return np.tile(images, (reps, 1, 1, 1))[:examples], np.tile(labels, reps)[:examples]


def recipe_config(model: str, **overrides):
    script = "lenet_mnist.py" if model == "lenet" else "lenet5_mnist.py"
    config_class = runpy.run_path(str(ROOT / "recipes" / script), run_name="bench")["Config"]
    return config_class(**overrides)


def keras_runner(model_name: str, images, labels, *, pipeline: bool, batch_size=None,
                 steps_per_execution=1, jit_compile=False, precision="float32"):
    """Returns a function that trains one epoch and returns the seconds it took."""
    import keras
    import tensorflow as tf

    import zoo
    from zoo import data

    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_dtype_policy(precision)
    model = zoo.build(model_name)
    keras.mixed_precision.set_dtype_policy("float32")
    model.jit_compile = jit_compile
    model.steps_per_execution = steps_per_execution
    if pipeline:
        examples = tf.data.Dataset.from_tensor_slices((images, labels))
        batches = data.pipeline(examples, batch_size=batch_size, training=True, seed=0,
                                preprocess=lambda x, y: (tf.cast(x, tf.float32), y))

        def epoch():
            start = time.perf_counter()
            model.fit(batches, epochs=1, verbose=0, shuffle=False)
            return time.perf_counter() - start
    else:
        x = images.astype("float32")

        def epoch():
            start = time.perf_counter()
            model.fit(x, labels, epochs=1, verbose=0)  # Keras defaults: batch 32, shuffled
            return time.perf_counter() - start
    epoch()  # warm-up: tracing, allocation, the pipeline's cache
    return epoch


def torch_runner(model_name: str, images, labels, *, batch_size: int, compile: bool = False):
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)

    class Subsampling(nn.Module):  # LeNet-5's S2/S4: 2x2 sum x trainable coefficient + bias
        def __init__(self, channels):
            super().__init__()
            self.coefficient = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))

        def forward(self, x):
            pooled = nn.functional.avg_pool2d(x, 2) * 4
            return pooled * self.coefficient[None, :, None, None] + self.bias[None, :, None, None]

    class MaskedConv(nn.Conv2d):  # LeNet-5's C3: a full conv whose kernel is masked by the table
        def __init__(self, table):
            super().__init__(6, 16, 5)
            mask = torch.zeros(16, 6)
            for output, inputs in enumerate(table):
                mask[output, list(inputs)] = 1.0
            self.register_buffer("mask", mask[:, :, None, None])

        def forward(self, x):
            return nn.functional.conv2d(x, self.weight * self.mask, self.bias)

    class ScaledTanh(nn.Module):
        def forward(self, x):
            return 1.7159 * torch.tanh(2 * x / 3)

    if model_name == "lenet":
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(120, 84), nn.ReLU(), nn.Dropout(0.25), nn.Linear(84, 10))
        scale, shift, pad = 1 / 255, 0.0, 0
    else:
        from zoo.layers.lenet5 import LENET5_C3_TABLE

        model = nn.Sequential(
            nn.Conv2d(1, 6, 5), ScaledTanh(), Subsampling(6), ScaledTanh(),
            MaskedConv(LENET5_C3_TABLE), ScaledTanh(), Subsampling(16), ScaledTanh(),
            nn.Conv2d(16, 120, 5), ScaledTanh(), nn.Flatten(), nn.Linear(120, 84), ScaledTanh(),
            nn.Linear(84, 10))
        scale, shift, pad = 1.275 / 255, -0.1, 2
    x = torch.tensor(images, dtype=torch.float32).permute(0, 3, 1, 2)
    if pad:
        x = nn.functional.pad(x, (pad, pad, pad, pad))
    x = x * scale + shift
    y = torch.tensor(labels, dtype=torch.long)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y),
                                         batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    if compile:
        model = torch.compile(model)

    def epoch():
        start = time.perf_counter()
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()
        return time.perf_counter() - start

    epoch()
    return epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--examples", type=int, default=60000, help="MNIST has 60,000")
    parser.add_argument("--models", default="lenet,lenet5")
    parser.add_argument("--sweep", action="store_true", help="also time other recipe settings")
    args = parser.parse_args()
    images, labels = mnist_shaped(args.examples)
    print(f"{args.examples} MNIST-shaped training images, {args.repeats} alternating repeats, "
          f"{os.cpu_count()} CPU cores; examples/s, median (min-max)\n")
    for model_name in args.models.split(","):
        config = recipe_config(model_name)
        settings = dict(batch_size=config.batch_size, steps_per_execution=config.steps_per_execution,
                        jit_compile=config.jit_compile, precision=config.precision)
        runners = {f"(a) recipe: tf.data, batch {config.batch_size}, steps_per_execution "
                   f"{config.steps_per_execution}": keras_runner(model_name, images, labels, pipeline=True, **settings),
                   "(b) numpy: model.fit(x, y) defaults, batch 32": keras_runner(model_name, images, labels, pipeline=False)}
        try:
            import torch
        except ImportError:
            print("  (PyTorch not installed: pip install -e '.[bench]' for (c) and (d))")
        else:
            runners[f"(c) torch {torch.__version__} CPU loop, batch {config.batch_size}"] = torch_runner(
                model_name, images, labels, batch_size=config.batch_size)
            try:
                runners[f"(d) torch.compile, batch {config.batch_size}"] = torch_runner(
                    model_name, images, labels, batch_size=config.batch_size, compile=True)
            except Exception as error:  # noqa: BLE001 - e.g. no C++ compiler: report it, time the rest
                print(f"  (torch.compile failed on this machine, (d) left out: {type(error).__name__}: "
                      f"{str(error).splitlines()[0] if str(error) else ''})")
        if args.sweep:
            for batch in (64, 128, 256):
                for spe in (1, 16, 64):
                    runners[f"    sweep: batch {batch}, steps_per_execution {spe}"] = keras_runner(
                        model_name, images, labels, pipeline=True, batch_size=batch, steps_per_execution=spe)
            runners["    sweep: jit_compile=True"] = keras_runner(
                model_name, images, labels, pipeline=True, **{**settings, "jit_compile": True})
            runners["    sweep: mixed_bfloat16"] = keras_runner(
                model_name, images, labels, pipeline=True, **{**settings, "precision": "mixed_bfloat16"})
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.repeats):  # alternate, so drifting machine load hits all alike
            for name, epoch in runners.items():
                times[name].append(args.examples / epoch())
        recipe = statistics.median(times[next(iter(times))])
        print(f"{model_name}:")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:<58} {median:>9,.0f}  ({min(values):,.0f}-{max(values):,.0f})"
                  f"   recipe / this = {recipe / median:5.2f}x")
        print()


if __name__ == "__main__":
    main()
