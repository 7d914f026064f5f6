"""`co2` and `sunspots`: two real time series as TFDS datasets, built offline.

Both ship inside statsmodels (`statsmodels.datasets`), so they prepare with no internet:

- `co2`: the Mauna Loa atmospheric CO2 record (Keeling and Whorf 2004, Scripps Institution of
  Oceanography flask samples via CDIAC), in ppm. statsmodels carries it weekly, March 1958 to
  December 2001, with 59 weeks missing; this dataset is its monthly means (the usual form, and
  the one a seasonal ARIMA takes with period 12): 526 months, 5 of them with no measured week
  (1958-06, 1958-10, 1964-02 to 1964-04) linearly interpolated between their neighbours.
  A rising trend with a yearly cycle.
- `sunspots`: the yearly mean sunspot number, 1700-2008 (NOAA's National Geophysical Data
  Center): 309 years. A quasi-periodic cycle of about 11 years whose peaks vary in height.

Every example is one time step, {"date": ISO date, "value": float32}, supervised as
(date, value), and the steps are stored in time order (shuffling disabled). The splits are
fixed and chronological, never shuffled across time:

    co2        train 1958-03 .. 1991-12 (406)   validation 1992 .. 1996 (60)   test 1997 .. 2001 (60)
    sunspots   train 1700 .. 1948 (249)         validation 1949 .. 1978 (30)   test 1979 .. 2008 (30)

`zoo.data.windows` reads a series back whole (`load_series`) and cuts it into (history,
horizon) examples without look-ahead.

Example:
    >>> import tensorflow_datasets as tfds, zoo.data.time_series
    >>> train = tfds.load("co2", split="train", as_supervised=True)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds


@dataclasses.dataclass(frozen=True)
class SeriesSource:
    """What a bundled series is: where it comes from and how it is split."""

    description: str
    units: str
    frequency: str  # a pandas offset alias: "MS" month starts, "YS" year starts
    period: int  # the seasonal period in steps (the seasonal-naive forecast's lag)
    validation_from: str  # the first date of the validation split (ISO)
    test_from: str  # the first date of the test split
    homepage: str


SOURCES = {
    "co2": SeriesSource("Mauna Loa atmospheric CO2, monthly means of the weekly flask record", "ppm", "MS", 12,
                        "1992-01-01", "1997-01-01",
                        "https://www.statsmodels.org/stable/datasets/generated/co2.html"),
    "sunspots": SeriesSource("Yearly mean sunspot number", "sunspot number", "YS", 11,
                             "1949-01-01", "1979-01-01",
                             "https://www.statsmodels.org/stable/datasets/generated/sunspots.html"),
}


def raw_series(name: str) -> tuple[list[str], np.ndarray]:
    """(ISO dates, float32 values) of bundled series `name`, whole and in time order.

    Example:
        >>> dates, values = raw_series("sunspots")
        >>> len(values), dates[0], dates[-1]
        (309, '1700-01-01', '2008-01-01')
    """
    import pandas as pd
    from statsmodels import datasets

    if name == "co2":
        weekly = datasets.co2.load_pandas().data["co2"]
        series = weekly.resample("MS").mean().interpolate("linear")
    elif name == "sunspots":
        frame = datasets.sunspots.load_pandas().data
        series = pd.Series(frame["SUNACTIVITY"].to_numpy(),
                           index=pd.to_datetime(frame["YEAR"].astype(int).astype(str), format="%Y"))
    else:
        raise ValueError(f"No bundled series named {name!r}. Bundled series: {', '.join(SOURCES)}.")
    return [d.strftime("%Y-%m-%d") for d in series.index], series.to_numpy(np.float32)


def split_of(date: str, source: SeriesSource) -> str:
    """The split an ISO date falls in."""
    return "train" if date < source.validation_from else "validation" if date < source.test_from else "test"


class _Series(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """One bundled series, one example per time step, in time order."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: chronological train/validation/test splits."}
    SERIES = ""

    def _info(self) -> tfds.core.DatasetInfo:
        source = SOURCES[self.SERIES]
        return self.dataset_info_from_configs(
            description=f"{source.description} ({source.units}). {__doc__.split(chr(10) * 2)[1]}",
            features=tfds.features.FeaturesDict({"date": tfds.features.Text(),
                                                 "value": tfds.features.Scalar(dtype=np.float32)}),
            supervised_keys=("date", "value"),
            disable_shuffling=True,  # the steps stay in time order on disk and when read
            metadata=tfds.core.MetadataDict(units=source.units, frequency=source.frequency, period=source.period),
            homepage=source.homepage,
        )

    def _split_generators(self, dl_manager):
        source = SOURCES[self.SERIES]
        dates, values = raw_series(self.SERIES)
        parts = {"train": [], "validation": [], "test": []}
        for index, (date, value) in enumerate(zip(dates, values)):
            parts[split_of(date, source)].append((index, date, value))
        return {name: self._generate_examples(steps) for name, steps in parts.items()}

    def _generate_examples(self, steps):
        for index, date, value in steps:
            yield index, {"date": date, "value": float(value)}


class Co2(_Series):
    """Mauna Loa CO2, monthly (statsmodels' bundled copy)."""

    SERIES = "co2"


class Sunspots(_Series):
    """Yearly sunspot numbers, 1700-2008 (statsmodels' bundled copy)."""

    SERIES = "sunspots"
