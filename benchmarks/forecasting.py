"""The LSTM forecaster against the classical baselines on the bundled real series, over seeds.

    python benchmarks/forecasting.py  [--datasets co2,sunspots] [--seeds 0,1,2] [--part test|validation]
                                      [--set KEY=VALUE ...]
    python benchmarks/forecasting.py --sarima-grid [--part test|validation]

Each run is `recipes/lstm_forecast.py` with its documented configuration for the series
(extra `--set` flags pass through), scored on every origin of the test part (`--part
validation`: of the validation part, to compare settings without looking at the test part):
MAE, RMSE, MASE (in-sample seasonal-naive scale), 95% interval coverage and Gaussian NLL, in
the series' units. The seasonal-naive and SARIMA baselines are fitted once per run on the
training part and are deterministic, so they are the same for every seed. `--sarima-grid`
scores every candidate of the SARIMA grid instead, ranked by the AIC the recipe chooses by.

Results, dated and with their command: benchmarks/RESULTS.md (the README keeps a headline).
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("mae", "rmse", "mase", "coverage_95", "nll")
METHODS = {"lstm_sequence": "LSTM (`lstm_forecast`)", "seasonal naive": "seasonal naive", "SARIMA": "SARIMA"}


def run(dataset: str, seed: int, workdir: Path, extra: list[str]) -> dict:
    main = runpy.run_path(str(ROOT / "recipes" / "lstm_forecast.py"), run_name="bench")["main"]
    where = workdir / f"{dataset}-{seed}"
    main(["--dataset", dataset, "--seed", str(seed), "--model-dir", str(where), "--set", "export=false",
          "--set", "progress=none", *extra])
    return json.loads((where / "baselines.json").read_text())


def sarima_grid(dataset: str, part: str, extra: list[str]) -> None:
    """Every candidate of the recipe's SARIMA grid, ranked by AIC, with its scores on `part`:
    how far AIC's in-sample ranking carries to forecasts on held-out years."""
    from zoo import forecasting
    from zoo.data import windows
    from zoo.training import parse_config

    recipe = runpy.run_path(str(ROOT / "recipes" / "lstm_forecast.py"), run_name="bench")
    config = parse_config(recipe["Config"], ["--dataset", dataset, *extra])
    series = windows.load_series(dataset, data_dir=config.data_dir)
    origins = windows.origins(series.parts[part], config.history, config.horizon)
    _, truth = windows.windows(series.values, config.history, config.horizon, part=series.parts[part])
    scale = forecasting.mase_scale(series.part("train"), series.period)
    rows = []
    for candidate in forecasting.sarima_candidates(series.part("train"), series.period, d=config.sarima_d,
                                                   seasonal_d=config.sarima_seasonal_d,
                                                   max_order=config.sarima_max_order):
        mean, std = candidate.forecast(series.values, origins, config.horizon)
        rows.append((candidate.aic, candidate.describe(), forecasting.metrics(mean, std, truth, scale)))
    print(f"\n{dataset}: the SARIMA grid on {len(origins)} {part} origins, by AIC (the recipe keeps the first)\n")
    print("| orders | AIC | " + " | ".join(COLUMNS) + " |")
    print("| --- | ---: |" + " ---: |" * len(COLUMNS))
    for aic, name, scores in sorted(rows, key=lambda row: row[0]):
        print(f"| {name} | {aic:.1f} | " + " | ".join(f"{scores[column]:.3f}" for column in COLUMNS) + " |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="co2,sunspots")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to the recipe")
    parser.add_argument("--part", choices=("test", "validation"), default="test",
                        help="the part scored: validation to choose settings, test to report them")
    parser.add_argument("--sarima-grid", action="store_true",
                        help="instead: score every SARIMA candidate of the grid (no LSTM), ranked by AIC")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    extra = [flag for item in [*args.set, f"score_part={args.part}"] for flag in ("--set", item)]
    if args.sarima_grid:
        for dataset in args.datasets.split(","):
            sarima_grid(dataset, args.part, extra)
        return
    with tempfile.TemporaryDirectory() as workdir:
        for dataset in args.datasets.split(","):
            runs = [run(dataset, seed, Path(workdir), extra) for seed in seeds]
            first = runs[0]
            print(f"\n{dataset}: {first['count']} {args.part} origins {first['origins'][0]} .. {first['origins'][1]}, "
                  f"horizon {first['horizon']}, {first.get('sarima', 'no SARIMA')}; seeds {args.seeds}, "
                  "mean ± std over seeds\n")
            print("| method | " + " | ".join(COLUMNS) + " |")
            print("| --- |" + " ---: |" * len(COLUMNS))
            for method, label in METHODS.items():
                if method not in first["scores"]:
                    continue
                cells = []
                for column in COLUMNS:
                    values = [r["scores"][method][column] for r in runs]
                    spread = statistics.stdev(values) if len(values) > 1 else 0.0
                    cells.append(f"{statistics.mean(values):.3f} ± {spread:.3f}")
                print(f"| {label} | " + " | ".join(cells) + " |")
            per_seed = ", ".join(f"seed {s}: MASE {r['scores']['lstm_sequence']['mase']:.3f}, "
                                 f"coverage {r['scores']['lstm_sequence']['coverage_95']:.3f}"
                                 for s, r in zip(seeds, runs))
            print(f"\nLSTM per seed: {per_seed}", flush=True)


if __name__ == "__main__":
    main()
