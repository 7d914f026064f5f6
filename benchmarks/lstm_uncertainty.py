"""Do the LSTMs know what they do not know? Interval coverage in distribution and how well the
predictive std flags sequences unlike the training data, over several seeds.

    python benchmarks/lstm_uncertainty.py  [--methods ensemble,bayesian,mc_dropout] [--seeds 0,1,2]

The task (as in tests/test_lstm.py): predict the mean of the last 3 of 12 values drawn from
[-1, 1], plus noise of std 0.1; 2,000 training sequences, 20 epochs, batch 64; 500 test
sequences; out of distribution, 500 sequences of values in [3, 4]. Methods:
  ensemble     `lstm_sequence`, Normal head, 16 units, `ensemble_size=5` (one pass)
  bayesian     `bayesian_lstm`, 16 units, Adam 3e-3 (32 Monte Carlo passes)
  mc_dropout   `lstm_sequence`, Normal head, 16 units, dropout 0.1, `mc_dropout=True` (32 passes)
Columns: RMSE, 95% interval coverage, Gaussian NLL, AUROC of the total and of the epistemic std.

Results, dated and with their command: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def run(method: str, seed: int, epochs: int = 20) -> dict[str, float]:
    import keras

    import zoo
    from zoo import uncertainty

    rng = np.random.default_rng(seed)

    def sequences(n, low=-1.0, high=1.0):
        x = rng.uniform(low, high, size=(n, 12, 1)).astype("float32")
        return x, (x[:, -3:, 0].mean(axis=1) + 0.1 * rng.normal(size=n))[:, None].astype("float32")

    x, y = sequences(2000)
    test_x, test_y = sequences(500)
    unlike, _ = sequences(500, 3.0, 4.0)
    keras.utils.set_random_seed(seed)
    if method == "ensemble":
        model = zoo.build("lstm_sequence", lstm_units=[16], distribution="normal", ensemble_size=5)
    elif method == "bayesian":
        model = zoo.build("bayesian_lstm", input_shape=(12, 1), lstm_units=(16,), num_train_examples=2000)
        model.optimizer.learning_rate = 3e-3
    elif method == "mc_dropout":
        model = zoo.build("lstm_sequence", lstm_units=[16], dropout=0.1, mc_dropout=True, distribution="normal")
    else:
        raise SystemExit(f"unknown method {method!r}: ensemble, bayesian or mc_dropout")
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    seen = uncertainty.predict_with_uncertainty(model, test_x, samples=32)
    unseen = uncertainty.predict_with_uncertainty(model, unlike, samples=32)
    return {"rmse": float(np.sqrt(np.mean((seen.mean - test_y) ** 2))),
            "coverage_95": uncertainty.interval_coverage(seen.mean, seen.std, test_y),
            "nll": uncertainty.gaussian_negative_log_likelihood(seen.mean, seen.std, test_y),
            "auroc_std": uncertainty.auroc(seen.std.ravel(), unseen.std.ravel()),
            "auroc_epistemic": uncertainty.auroc(seen.epistemic_std.ravel(), unseen.epistemic_std.ravel())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="ensemble,bayesian,mc_dropout")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    for method in args.methods.split(","):
        for seed in map(int, args.seeds.split(",")):
            row = run(method, seed)
            print(f"{method:<11} seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)


if __name__ == "__main__":
    main()
