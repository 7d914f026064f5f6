"""Time series: the bundled series (format, fixed chronological split), windows without
look-ahead, the baselines against hand-checked values, forecasting relative to the last value."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

import zoo
from zoo import data, forecasting
from zoo.data import windows as series_windows
from zoo.data.loading import UnknownDatasetError
from zoo.data.time_series import SOURCES


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def test_co2_is_the_monthly_mauna_loa_record_split_by_date(data_dir):
    series = series_windows.load_series("co2", data_dir=data_dir)
    assert series.parts == {"train": (0, 406), "validation": (406, 466), "test": (466, 526)}
    assert (series.dates[0], series.dates[405], series.dates[406], series.dates[466], series.dates[-1]) == (
        "1958-03-01", "1991-12-01", "1992-01-01", "1997-01-01", "2001-12-01")
    assert list(series.dates) == sorted(set(series.dates))  # ascending, no step twice
    assert (series.units, series.frequency, series.period) == ("ppm", "MS", 12)
    weekly = sm.datasets.co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean()
    measured = monthly.notna().to_numpy()
    np.testing.assert_allclose(series.values[measured], monthly.to_numpy()[measured], rtol=1e-6)
    assert np.all(np.isfinite(series.values))  # the 5 months without a measured week are interpolated
    june_1958 = series.dates.index("1958-06-01")
    assert series.values[june_1958] == pytest.approx(np.mean(series.values[[june_1958 - 1, june_1958 + 1]]))


def test_sunspots_are_the_yearly_numbers_since_1700(data_dir):
    (train, test), info = data.load("sunspots", ["train", "test"], data_dir=data_dir)
    assert info.supervised_keys == ("date", "value") and info.metadata["period"] == 11
    series = series_windows.load_series("sunspots", data_dir=data_dir)
    assert series.parts == {"train": (0, 249), "validation": (249, 279), "test": (279, 309)}
    assert series.dates[0] == "1700-01-01" and series.dates[-1] == "2008-01-01"
    assert [int(d[:4]) for d in series.dates] == list(range(1700, 2009))
    np.testing.assert_allclose(series.values, sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"], rtol=1e-6)
    # Reading a split directly keeps time order (shuffling is disabled in the builder).
    dates = [date.decode() for date, _ in test.as_numpy_iterator()]
    assert dates == list(series.dates[279:])


def test_windows_never_look_ahead(data_dir):
    series = series_windows.load_series("co2", data_dir=data_dir)
    history, horizon = 24, 6
    x, y = series_windows.windows(series.values, history, horizon, part=series.parts["train"], stride=3)
    # Each training example's targets lie in the training part, its history right before them.
    for targets in y:
        start = int(np.flatnonzero(np.isclose(series.values, targets[0]))[0])
        assert start + horizon <= series.parts["train"][1]
    # Change everything after the training part: the training windows and the scaler stay.
    changed = series.values.copy()
    changed[series.parts["validation"][0]:] = np.random.default_rng(0).normal(1000, 50, len(changed) - 406)
    x2, y2 = series_windows.windows(changed, history, horizon, part=series.parts["train"], stride=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert (series_windows.Standardizer.fit(series.part("train"))
            == series_windows.Standardizer.fit(changed[slice(*series.parts["train"])]))
    # Test windows: every origin in the test part, history from before it allowed, targets inside it.
    x, y = series_windows.windows(series.values, history, horizon, part=series.parts["test"])
    assert len(x) == 60 - horizon + 1
    np.testing.assert_array_equal(x[0, :, 0], series.values[466 - history:466])
    np.testing.assert_array_equal(y[-1], series.values[-horizon:])


def test_windows_refuse_what_cannot_fit_and_datasets_that_are_no_series():
    with pytest.raises(ValueError, match=r"No window fits: part \(5, 8\).*3 steps.*Use a shorter"):
        series_windows.windows(np.arange(8.0), history=2, horizon=4, part=(5, 8))
    with pytest.raises(ValueError, match="`horizon` must be an integer >= 1. Received: horizon=0"):
        series_windows.windows(np.arange(8.0), history=2, horizon=0, part=(0, 8))
    with pytest.raises(UnknownDatasetError, match="'digits' is not a bundled time series.*co2, sunspots"):
        series_windows.load_series("digits")  # refused before anything loads


def test_seasonal_naive_and_mase_by_hand():
    values = np.array([10, 20, 30, 12, 22, 32, 14, 24, 34, 16, 26, 36], "float64")  # period 3, +2 a cycle
    # In-sample seasonal errors on the first 9 steps are all 2: MASE's scale and the residual RMS.
    assert forecasting.mase_scale(values[:9], 3) == 2.0
    mean, std = forecasting.seasonal_naive(values, origins=[9], horizon=4, period=3, train=(0, 9))
    assert mean.tolist() == [[14, 24, 34, 14]]  # one period back; the fourth step is two back
    np.testing.assert_allclose(std, [[2, 2, 2, 2 * np.sqrt(2)]])
    scores = forecasting.metrics(mean, std, np.array([[16, 26, 36, 18]]), scale=2.0)
    assert scores["mae"] == 2.5 and scores["mase"] == 1.25
    assert scores["coverage_95"] == 1.0  # every error (2, 2, 2, 4) is within 1.96 std


def test_sarima_forecasts_a_seasonal_random_walk_by_hand():
    """SARIMA(0,1,0)(0,1,0)[4] has no parameter but its noise variance: its forecast is
    y[t] = y[t-1] + y[t-4] - y[t-5], its first step's variance σ²."""
    rng = np.random.default_rng(1)
    season = np.tile([0.0, 5.0, -3.0, 1.0], 12)
    values = season + np.cumsum(rng.normal(0.5, 0.3, 48))
    model = forecasting.fit_sarima(values[:40], period=4, d=1, seasonal_d=1, max_order=0)
    assert model.candidates == 4  # (P, Q) in {0, 1}²
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    walk = SARIMAX(values[:40], order=(0, 1, 0), seasonal_order=(0, 1, 0, 4)).fit(disp=False)
    fixed = forecasting.Sarima(walk, (0, 1, 0), (0, 1, 0, 4), walk.aic, 1)
    mean, std = fixed.forecast(values, origins=[40, 44], horizon=2)
    extended = list(values[:40])
    expected = []
    for step in range(2):
        extended.append(extended[-1] + extended[-4] - extended[-5])
        expected.append(extended[-1])
    np.testing.assert_allclose(mean[0], expected, rtol=1e-6)
    assert mean[1, 0] == pytest.approx(values[43] + values[40] - values[39])
    assert std[0, 0] == pytest.approx(np.sqrt(walk.params[-1]), rel=1e-4)
    assert model.aic <= walk.aic + 1e-6  # the grid includes the walk and keeps the lowest AIC


def test_relative_to_last_forecasts_shift_with_the_window():
    model = zoo.build("lstm_sequence", input_shape=(8, 1), num_outputs=3, distribution="normal",
                      relative_to_last=True)
    window = np.random.default_rng(2).normal(size=(4, 8, 1)).astype("float32")
    raw = model.predict(window, verbose=0)
    shifted = model.predict(window + 50.0, verbose=0)
    np.testing.assert_allclose(shifted[:, :3], raw[:, :3] + 50.0, atol=1e-3)  # means move with the level
    np.testing.assert_allclose(shifted[:, 3:], raw[:, 3:], atol=1e-4)  # the scales do not
    with pytest.raises(ValueError, match="relative_to_last.*task='regression' without a mask_value"):
        zoo.build("lstm_sequence", task="classification", num_outputs=3, relative_to_last=True)
    # Default-off: the catalog's model is unchanged.
    assert zoo.build("lstm_sequence").count_params() == 16961


def test_every_source_names_its_origin():
    for name, source in SOURCES.items():
        assert source.homepage.startswith("https://") and source.period > 1, name


def test_a_forecaster_with_attention_shows_and_serves_the_steps_it_used(tmp_path):
    """Also scored on the validation part (as settings are chosen), which the run's scores then
    describe: its origins are the validation part's, 1992-01 .. 1996-01."""
    import json

    import tensorflow as tf
    from recipe_helpers import quick_args, recipe

    result = recipe("lstm_forecast")["main"](quick_args(
        tmp_path, "--set", "attention_pooling=true", "--set", "sarima_max_order=0", "--set", "mc_samples=4",
        "--set", "score_part=validation"))
    assert (result.model_dir / "attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    scored = json.loads((result.model_dir / "baselines.json").read_text())
    assert scored["origins"] == ["1992-01-01", "1996-01-01"] and scored["count"] == 49
    series = series_windows.load_series("co2", data_dir=str(tmp_path / "data"))
    loaded = tf.saved_model.load(str(result.export_path))
    assert {"serving_default", "attention"} <= set(loaded.signatures)
    window = tf.constant(series.values[None, -48:-12, None])  # raw ppm, as a client sends it
    weights = loaded.signatures["attention"](window=window)["attention"].numpy()
    assert weights.shape == (1, 36) and np.all(weights > 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)

    # `zoo predict` with one raw window saved as .npy (no batch axis): a forecast per month, then
    # the attention signature's weights, through a real server.
    import re
    import subprocess
    import sys

    np.save(tmp_path / "window.npy", series.values[-48:-12, None])
    for signature, expected in ((None, r"lstm_forecast_co2: example 0: (3\d\d\.\d ± [\d.]+, ){11}3\d\d\.\d ± [\d.]+ "
                                       r"\(mean ± std per output\)\n"),
                                ("attention", r"lstm_forecast_co2: example 0: attention( [\d.e+-]+){36}\n")):
        done = subprocess.run([sys.executable, "-m", "zoo", "predict", "lstm_forecast_co2", "window.npy",
                               "--model-base-path", str(result.export_path.parents[1]),
                               *(["--signature", signature] if signature else [])],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert re.fullmatch(expected, done.stdout), done.stdout
        assert "one example of shape (36, 1): sent as a batch of 1" in done.stderr
