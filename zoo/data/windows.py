"""Time series for forecasting: a bundled series read back whole, and (history, horizon)
windows cut from it without look-ahead.

The rule that keeps the future out: a part's examples are the windows whose *targets* all lie
in that part; their history may reach back into earlier parts (at a forecast origin the past
is known), never forward. The scaler is fitted on the training part alone. So the training
examples and the scaler are the same whatever the validation and test parts hold (a test
changes the test part and checks).

Example:
    >>> series = load_series("co2")  # doctest: +SKIP
    >>> x, y = windows(series.values, history=36, horizon=12, part=series.parts["test"])  # doctest: +SKIP
    >>> x.shape, y.shape  # doctest: +SKIP
    ((49, 36, 1), (49, 12))
"""

from __future__ import annotations

import dataclasses

import numpy as np

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class Series:
    """A whole series: values in time order, their ISO dates, and where each split lies
    (`parts[name] = (start, stop)`, indices into `values`)."""

    name: str
    values: np.ndarray
    dates: tuple[str, ...]
    parts: dict[str, tuple[int, int]]
    units: str
    frequency: str
    period: int

    def part(self, name: str) -> np.ndarray:
        start, stop = self.parts[name]
        return self.values[start:stop]


def load_series(name: str, *, data_dir: str | None = None) -> Series:
    """Reads every split of TFDS time series `name` (one example per step, supervised as
    (date, value); the bundled `co2` and `sunspots`) and joins them in time order.

    Raises UnknownDatasetError (a ValueError) for a name that is not a bundled series, and
    ValueError when the splits overlap or a split's dates are not ascending.

    Example:
        >>> series = load_series("sunspots")  # doctest: +SKIP
        >>> series.parts, series.period  # doctest: +SKIP
        ({'train': (0, 249), 'validation': (249, 279), 'test': (279, 309)}, 11)
    """
    from zoo.data.loading import UnknownDatasetError, load
    from zoo.data.time_series import SOURCES

    if name not in SOURCES:  # before any loading: other datasets have no dated steps to window
        raise UnknownDatasetError(f"{name!r} is not a bundled time series: forecasting reads one of "
                                  f"{', '.join(SOURCES)} (e.g. --dataset sunspots). Received: dataset={name!r}")
    datasets, info = load(name, list(SPLITS), data_dir=data_dir)
    dates, values, parts = [], [], {}
    for split, dataset in zip(SPLITS, datasets):
        rows = [(date.decode(), float(value)) for date, value in dataset.as_numpy_iterator()]
        parts[split] = (len(dates), len(dates) + len(rows))
        dates += [date for date, _ in rows]
        values += [value for _, value in rows]
    if any(later <= earlier for earlier, later in zip(dates, dates[1:])):
        raise ValueError(f"Series {name!r} is not in time order across train, validation and test: "
                         "its dates must ascend strictly.")
    metadata = info.metadata or {}
    return Series(name, np.asarray(values, np.float32), tuple(dates), parts, metadata.get("units", ""),
                  metadata.get("frequency", ""), int(metadata.get("period", 1)))


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """(value - mean) / std, with mean and std of the training part only.

    Example:
        >>> scaler = Standardizer.fit(np.array([1.0, 2.0, 3.0]))
        >>> float(scaler.inverse(scaler(np.float32(7.0))))
        7.0
    """

    mean: float
    std: float

    @classmethod
    def fit(cls, train: np.ndarray) -> "Standardizer":
        train = np.asarray(train, np.float64)
        return cls(float(train.mean()), float(train.std() or 1.0))

    def __call__(self, values):
        return (values - self.mean) / self.std

    def inverse(self, values):
        return values * self.std + self.mean


def windows(values: np.ndarray, history: int, horizon: int, *, part: tuple[int, int],
            stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): every window whose `horizon` targets lie in `part` = (start, stop), with the
    `history` values before them, one origin every `stride` steps from the first possible one.
    x has shape (windows, history, 1), y (windows, horizon), float32.

    Example:
        >>> x, y = windows(np.arange(10.0), history=3, horizon=2, part=(5, 10))
        >>> x[:, :, 0].tolist(), y.tolist()
        ([[2.0, 3.0, 4.0], [3.0, 4.0, 5.0], [4.0, 5.0, 6.0], [5.0, 6.0, 7.0]], [[5.0, 6.0], [6.0, 7.0], [7.0, 8.0], [8.0, 9.0]])
    """
    for key, value, low in (("history", history, 1), ("horizon", horizon, 1), ("stride", stride, 1)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"`{key}` must be an integer >= {low}. Received: {key}={value!r}")
    start, stop = part
    chosen = origins(part, history, horizon, stride)
    if not chosen:
        raise ValueError(f"No window fits: part {part} of a series of {len(values)} steps has {stop - start} steps, "
                         f"and a window needs {history} steps of history before it and {horizon} targets inside "
                         "it. Use a shorter --set history=/horizon=.")
    values = np.asarray(values, np.float32)
    x = np.stack([values[t - history:t] for t in chosen])[..., None]
    y = np.stack([values[t:t + horizon] for t in chosen])
    return x, y


def origins(part: tuple[int, int], history: int, horizon: int, stride: int = 1) -> list[int]:
    """The forecast origins (index of each window's first target) of `windows(..., part=part)`:
    every `stride` steps from the first with `history` steps before it, while all `horizon`
    targets stay inside `part` = (start, stop).

    Example:
        >>> origins((5, 10), history=3, horizon=2)
        [5, 6, 7, 8]
    """
    start, stop = part
    return list(range(max(start, history), stop - horizon + 1, stride))
