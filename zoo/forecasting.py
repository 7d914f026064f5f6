"""Forecast evaluation on a rolling origin, and the classical baselines a forecaster must beat.

Every forecast here is a Normal per step (mean, std), so point and probabilistic scores come
from one place:

    MAE, RMSE         of the means, in the series' units
    MASE              MAE over the mean absolute error of the in-sample seasonal-naive forecast
                      on the training part (Hyndman & Koehler 2006): below 1 beats it
    coverage_95       how often the truth falls in mean ± 1.96·std (95% nominal)
    NLL               mean Gaussian negative log-likelihood per step

Baselines, fitted on the training part only and forecast from the same origins:
  seasonal naive    the value one period earlier, std from its in-sample residuals, growing
                    with the number of periods ahead (Hyndman & Athanasopoulos, FPP3 §5.5)
  seasonal ARIMA    statsmodels' SARIMAX, orders chosen by AIC over a small grid with the
                    differencing fixed; from each origin it filters the data up to it with
                    the fitted parameters (no refit), then forecasts

Example:
    >>> values = np.arange(40, dtype="float32") % 4  # a period-4 cycle
    >>> mean, std = seasonal_naive(values, origins=[30, 31], horizon=3, period=4, train=(0, 24))
    >>> mean.tolist()
    [[2.0, 3.0, 0.0], [3.0, 0.0, 1.0]]
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import numpy as np

Z_95 = 1.959964


def seasonal_errors(train: np.ndarray, period: int) -> np.ndarray:
    """In-sample errors of the seasonal-naive forecast on `train`: y[t] - y[t - period]."""
    train = np.asarray(train, np.float64)
    if len(train) <= period:
        raise ValueError(f"A seasonal-naive forecast needs more than one period ({period} steps) of training data. "
                         f"Received: {len(train)} steps.")
    return train[period:] - train[:-period]


def mase_scale(train: np.ndarray, period: int) -> float:
    """MASE's denominator: the mean absolute in-sample seasonal-naive error on `train`.

    Example:
        >>> mase_scale(np.array([1.0, 2.0, 4.0, 7.0]), period=1)
        2.0
    """
    return float(np.mean(np.abs(seasonal_errors(train, period))))


def seasonal_naive(values: np.ndarray, origins, horizon: int, period: int,
                   train: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(means, stds), each (origins, horizon): the value `period` steps before each target
    that is known at the origin, i.e. y[t + h] = y[t + h - period·(k + 1)] with k = floor(h / period)
    for h = 0..horizon-1; std = σ·√(k + 1) with σ the RMS of the in-sample errors on `train`."""
    values = np.asarray(values, np.float64)
    sigma = float(np.sqrt(np.mean(seasonal_errors(values[train[0]:train[1]], period) ** 2)))
    steps = np.arange(horizon)
    periods_ahead = steps // period + 1
    means = np.stack([values[origin + steps - period * periods_ahead] for origin in origins])
    stds = np.broadcast_to(sigma * np.sqrt(periods_ahead), means.shape).copy()
    return means, stds


@dataclasses.dataclass
class Sarima:
    """A seasonal ARIMA fitted on a training part (`fit_sarima`)."""

    results: object  # statsmodels' SARIMAXResults
    order: tuple[int, int, int]
    seasonal_order: tuple[int, int, int, int]
    aic: float
    candidates: int  # how many of the grid's candidates were fitted to choose it

    def forecast(self, values: np.ndarray, origins, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """(means, stds), each (origins, horizon), from each origin with the fitted parameters."""
        means, stds = [], []
        for origin in origins:
            forecast = self.results.apply(np.asarray(values[:origin], np.float64)).get_forecast(horizon)
            means.append(np.asarray(forecast.predicted_mean))
            stds.append(np.sqrt(np.asarray(forecast.var_pred_mean)))
        return np.stack(means), np.stack(stds)

    def describe(self) -> str:
        (p, d, q), (P, D, Q, m) = self.order, self.seasonal_order
        return f"SARIMA({p},{d},{q})({P},{D},{Q})[{m}]"


def sarima_candidates(train: np.ndarray, period: int, *, d: int, seasonal_d: int, max_order: int = 2):
    """Yields a fitted `Sarima` for every p, q in 0..max_order and P, Q in 0..1 with the
    differencing fixed (`fit_sarima`'s grid), skipping candidates statsmodels cannot fit."""
    import warnings

    from statsmodels.tsa.statespace.sarimax import SARIMAX

    train = np.asarray(train, np.float64)
    for p, q, P, Q in itertools.product(range(max_order + 1), range(max_order + 1), (0, 1), (0, 1)):
        seasonal = (P, seasonal_d, Q, period) if (P or Q or seasonal_d) else (0, 0, 0, 0)
        with warnings.catch_warnings():  # convergence chatter from poor candidates; AIC judges them
            warnings.simplefilter("ignore")
            try:
                results = SARIMAX(train, order=(p, d, q), seasonal_order=seasonal,
                                  trend="c" if d + seasonal_d == 0 else None).fit(disp=False)
            except (np.linalg.LinAlgError, ValueError):
                continue
        yield Sarima(results, (p, d, q), (P, seasonal_d, Q, period), float(results.aic), 1)


def fit_sarima(train: np.ndarray, period: int, *, d: int, seasonal_d: int, max_order: int = 2) -> Sarima:
    """Fits SARIMA(p, d, q)(P, D, Q)[period] on `train` for every p, q in 0..max_order and P, Q
    in 0..1 (differencing fixed: AIC does not compare models of differently differenced data)
    and keeps the lowest AIC. A constant is included only when nothing is differenced.

    Example:
        >>> model = fit_sarima(train, period=12, d=1, seasonal_d=1)  # doctest: +SKIP
        >>> model.describe()  # doctest: +SKIP
        'SARIMA(1,1,1)(0,1,1)[12]'
    """
    best, candidates = None, 0
    for candidate in sarima_candidates(train, period, d=d, seasonal_d=seasonal_d, max_order=max_order):
        candidates += 1
        if np.isfinite(candidate.aic) and (best is None or candidate.aic < best.aic):
            best = candidate
    if best is None:
        raise RuntimeError(f"No SARIMA candidate could be fitted to the {len(train)} training steps.")
    best.candidates = candidates
    return best


def metrics(means: np.ndarray, stds: np.ndarray, truth: np.ndarray, scale: float) -> dict[str, float]:
    """MAE, RMSE, MASE (`scale` from `mase_scale`), 95% coverage and Gaussian NLL.

    Example:
        >>> metrics(np.zeros((1, 2)), np.ones((1, 2)), np.array([[1.0, -1.0]]), scale=2.0)["mase"]
        0.5
    """
    means, stds, truth = (np.asarray(a, np.float64) for a in (means, stds, truth))
    errors = truth - means
    nll = 0.5 * np.log(2 * math.pi * stds ** 2) + 0.5 * (errors / stds) ** 2
    mae = float(np.mean(np.abs(errors)))
    return {"mae": mae, "rmse": float(np.sqrt(np.mean(errors ** 2))), "mase": mae / scale,
            "coverage_95": float(np.mean(np.abs(errors) <= Z_95 * stds)), "nll": float(np.mean(nll))}


def plot_forecast(dates, values, origin: int, forecasts: dict[str, tuple[np.ndarray, np.ndarray]],
                  path: Path, *, title: str, units: str, context: int) -> None:
    """History (the `context` steps before `origin`), truth and each forecast from `origin`
    with its 95% interval, saved as a PNG."""
    plt, _ = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 4.5))
    _draw_forecast(axes, dates, values, origin, max(0, origin - context), forecasts, units)
    axes.set_title(title)
    _save(figure, path)


def plot_attention(dates, values, origin: int, weights: np.ndarray, forecasts: dict[str, tuple[np.ndarray, np.ndarray]],
                   path: Path, *, title: str, units: str) -> None:
    """One forecast above the attention weights its model gave each step of the window it
    read (`weights`: one per history step, the `len(weights)` steps before `origin`), saved as
    a PNG: which months or years the forecast drew on.

    Example:
        >>> plot_attention(series.dates, series.values, origin, weights, {"LSTM": (mean, std)},  # doctest: +SKIP
        ...                Path("attention.png"), title="CO2", units="ppm")
    """
    plt, _ = _pyplot()
    weights = np.asarray(weights, np.float64)
    start = origin - len(weights)
    if start < 0:
        raise ValueError(f"{len(weights)} attention weights need {len(weights)} steps before origin {origin}.")
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, height_ratios=(2, 1))
    _draw_forecast(top, dates, values, origin, start, forecasts, units)
    top.set_title(title)
    times = np.array(dates, dtype="datetime64[D]")[start:origin]
    width = np.median(np.diff(times).astype("float64")) * 0.8 if len(times) > 1 else 1.0
    bottom.bar(times, weights, width=width, color="tab:purple")
    bottom.axhline(1.0 / len(weights), color="gray", linestyle=":", linewidth=1, label="uniform")
    bottom.set_ylabel("attention weight")
    bottom.legend(loc="upper left", fontsize=8)
    _date_axis(bottom)
    _save(figure, path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    return plt, mdates


def _draw_forecast(axes, dates, values, origin: int, start: int, forecasts, units: str) -> None:
    times = np.array(dates, dtype="datetime64[D]")
    horizon = len(next(iter(forecasts.values()))[0])
    axes.plot(times[start:origin], values[start:origin], color="black", label="history")
    truth = slice(max(start, origin - 1), origin + horizon)  # from the last known value: no gap
    axes.plot(times[truth], values[truth], color="black", linestyle="--", label="truth")
    for (name, (mean, std)), color in zip(forecasts.items(), ("tab:blue", "tab:orange", "tab:green")):
        span = times[origin:origin + horizon]
        axes.plot(span, mean, color=color, label=name)
        axes.fill_between(span, mean - Z_95 * std, mean + Z_95 * std, color=color, alpha=0.2)
    axes.set_ylabel(units)
    _date_axis(axes)
    axes.legend(loc="upper left", fontsize=8)


def _date_axis(axes) -> None:
    _, mdates = _pyplot()
    locator = mdates.AutoDateLocator()  # years, or months on short spans, each labelled once
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _save(figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
