"""How sure each uncertainty method is, and how right: the recipes on the bundled digits over
several seeds, side by side, with the uncertainty-baselines LeNet-5 / MNIST figures as anchors.

    python benchmarks/uncertainty_digits.py  [--seeds 0,1,2] [--methods all]

Each method is its recipe's documented digits configuration (`--dataset digits`), trained once
per seed; every model is then scored the same way on the 360 test digits and on as many images
of uniform noise (0-255, drawn with the seed):
  accuracy, NLL, Brier, ECE (15 bins)    of the predictive mean probabilities
  AUROC entropy / AUROC MI                how well the predictive entropy, and the mutual
                                          information (epistemic part; 0 for one deterministic
                                          pass), tell noise from digits
Predictions: one pass for `lenet`, the ensemble (its members are exact samples) and the GP
classifiers (their predictive integrates over the latent posterior), 32 Monte Carlo passes for
MC dropout and the Bayesian LeNet (their recipes' `mc_samples`).

Results, dated and with their command: benchmarks/RESULTS.md (the README keeps a headline).
"""

from __future__ import annotations

import argparse
import os
import runpy
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METHODS = {  # name: (recipe, extra flags)
    "lenet": ("lenet_mnist", []),
    "lenet, MC dropout": ("lenet_mc_dropout_mnist", []),
    "bayesian_lenet": ("bayesian_lenet_mnist", []),
    "lenet, ensemble of 5": ("lenet_mnist", ["--set", "ensemble_size=5"]),
    "gp_classifier, pixels": ("gp_classifier_mnist", []),
    "gp_classifier, deep kernel": ("gp_classifier_mnist", ["--set", "features=lenet", "--learning-rate", "0.002"]),
}
# google/uncertainty-baselines, baselines/mnist/README.md (LeNet-5 on MNIST, 60,000 images).
ANCHORS = {"deterministic": (0.991, 0.037, None), "mean-field VI": (0.985, 0.048, 0.010),
           "ensemble of 10": (0.994, 0.016, 0.005)}
COLUMNS = ("accuracy", "nll", "brier", "ece", "auroc_entropy", "auroc_mi")


def score(result, seed: int) -> dict[str, float]:
    """The columns for a finished run (`zoo.training.RunResult`)."""
    from zoo import data, heads, uncertainty

    test = data.pipeline(result.data.test, batch_size=256, training=False, preprocess=result.data.preprocess)
    x, y = (np.concatenate(parts) for parts in zip(*[(a.numpy(), b.numpy()) for a, b in test]))
    noise = np.random.default_rng(seed).uniform(0, 255, size=x.shape).astype(x.dtype)
    # 32 passes; a deterministic model's are all alike, and an ensemble of deterministic members takes one.
    digits, static = (uncertainty.predict_with_uncertainty(result.model, batch, 32) for batch in (x, noise))
    return {"accuracy": float(np.mean(digits.classes == y)),
            "nll": uncertainty.negative_log_likelihood(digits.probabilities, y),
            "brier": uncertainty.brier_score(digits.probabilities, y),
            "ece": uncertainty.expected_calibration_error(digits.probabilities, y),
            "auroc_entropy": uncertainty.auroc(digits.entropy, static.entropy),
            # One deterministic model's samples agree, and a GP's one pass has no samples to
            # disagree: their mutual information is 0 (rounding aside).
            "auroc_mi": (uncertainty.auroc(digits.mutual_information, static.mutual_information)
                         if uncertainty.stochastic(result.model)
                         or isinstance(heads.get(heads.head_of(result.model)), heads.Ensemble)
                         else float("nan"))}


def run(method: str, seed: int, workdir: Path) -> dict[str, float]:
    recipe, extra = METHODS[method]
    main = runpy.run_path(str(ROOT / "recipes" / f"{recipe}.py"), run_name="bench")["main"]
    where = workdir / f"{method.replace(', ', '-').replace(' ', '_')}-{seed}"
    result = main(["--dataset", "digits", "--seed", str(seed), "--model-dir", str(where),
                   "--set", "export=false", "--set", "progress=none", *extra])
    return score(result, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default="all", help=f"comma list of: {'; '.join(METHODS)}")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = list(METHODS) if args.methods == "all" else [m.strip() for m in args.methods.split(";")]
    results: dict[str, list[dict[str, float]]] = {method: [] for method in methods}
    with tempfile.TemporaryDirectory() as workdir:
        for seed in seeds:  # seeds outermost: a drifting machine hits every method alike
            for method in methods:
                results[method].append(run(method, seed, Path(workdir)))
                print(f"  done: {method}, seed {seed}: "
                      + ", ".join(f"{k} {v:.4f}" for k, v in results[method][-1].items()), flush=True)
    print(f"\ndigits, seeds {args.seeds}: mean ± std over seeds (per seed in the lines above)\n")
    print("| method | " + " | ".join(COLUMNS) + " |")
    print("| --- |" + " ---: |" * len(COLUMNS))
    for method, rows in results.items():
        cells = []
        for column in COLUMNS:
            values = [row[column] for row in rows]
            if any(v != v for v in values):  # NaN: not defined for this method (statistics.stdev fails on it)
                cells.append("-")
                continue
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.3f} ± {spread:.3f}")
        print(f"| {method} | " + " | ".join(cells) + " |")
    print("\nuncertainty-baselines anchors (LeNet-5, full MNIST): accuracy / NLL / ECE")
    for name, (accuracy, nll, ece) in ANCHORS.items():
        print(f"  {name}: {accuracy:.3f} / {nll:.3f} / {ece if ece is not None else '-'}")


if __name__ == "__main__":
    main()
