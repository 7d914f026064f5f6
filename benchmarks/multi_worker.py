"""Wall time of one recipe on 1 and 2 local workers (and as a plain process), side by side.

    python benchmarks/multi_worker.py [--repeats 3] [--epochs 10] [--recipe lenet_mnist]

Runs `python RECIPE`, `zoo launch --workers 1 RECIPE` and `zoo launch --workers 2 RECIPE`
(each with `--dataset digits`, fresh model and export dirs, the dataset prepared once
beforehand), alternating the order in each repeat, and reports the median wall time of each
and the ratios. The workers of one machine share its cores (2 here): this measures the
overhead of multi-worker training (process start-up, the collective all-reduce of every
step's gradients over gRPC), not a speed-up, which needs workers on separate machines.

Results, dated and with their command: benchmarks/RESULTS.md (the README keeps a headline).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str], cwd: Path) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - began


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--recipe", default="lenet_mnist")
    args = parser.parse_args(argv)
    recipe = str(ROOT / "recipes" / f"{args.recipe}.py")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        common = ["--dataset", "digits", "--epochs", str(args.epochs), "--data-dir", str(work / "data")]
        timed([sys.executable, recipe, *common, "--epochs", "1", "--model-dir", str(work / "prepare"),
               "--set", "export=false"], work)  # prepares the dataset outside the measurement
        variants = {
            "one process": [sys.executable, recipe],
            "zoo launch --workers 1": [sys.executable, "-m", "zoo", "launch", "--workers", "1", recipe],
            "zoo launch --workers 2": [sys.executable, "-m", "zoo", "launch", "--workers", "2", recipe],
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        for repeat in range(args.repeats):
            print(f"repeat {repeat + 1}/{args.repeats}", file=sys.stderr, flush=True)
            order = list(variants) if repeat % 2 == 0 else list(variants)[::-1]
            for name in order:
                run = work / f"{name.replace(' ', '_')}_{repeat}"
                times[name].append(timed([*variants[name], *common, "--model-dir", str(run / "model"),
                                          "--export-dir", str(run / "exports")], work))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\n{args.recipe} --dataset digits --epochs {args.epochs}, wall time including start-up, "
          f"median of {args.repeats} alternating repeats; {os.cpu_count()} CPU cores shared by all workers\n")
    print("| run | wall time | vs one process |")
    print("| --- | ---: | ---: |")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds:.1f} s | {seconds / medians['one process']:.2f}x |")
    ratio = medians["zoo launch --workers 2"] / medians["zoo launch --workers 1"]
    print(f"\n2 workers / 1 worker: {ratio:.2f}x the wall time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
