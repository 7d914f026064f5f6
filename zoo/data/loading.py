"""`load`: a TFDS split as (example, label) pairs, prepared on first use, failing fast offline.

TFDS retries a failed download with exponential back-off: on a machine with no internet,
`tfds.load("mnist")` gives up only after about 3.5 minutes (measured here). `load` lets a
download fail within seconds instead and says what to do: point `data_dir` at prepared data,
or use a bundled offline dataset.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import os
import re
import socket
from collections.abc import Iterator, Sequence

import tensorflow_datasets as tfds

# Datasets bundled with the package: importing the module registers the TFDS builder.
BUNDLED = {"digits": "zoo.data.digits", "iris_offline": "zoo.data.iris_offline",
           "diabetes": "zoo.data.diabetes", "co2": "zoo.data.time_series", "sunspots": "zoo.data.time_series"}
BUNDLED_KINDS = {"digits": "MNIST-format images", "iris_offline": "tabular classification",
                 "diabetes": "tabular regression", "co2": "time series", "sunspots": "time series"}
# The bundled stand-in for a downloadable dataset with the same format.
OFFLINE_ALTERNATIVE = {"mnist": "digits", "fashion_mnist": "digits", "kmnist": "digits",
                       "iris": "iris_offline", "wine_quality": "diabetes", "forest_fires": "diabetes"}
DOWNLOAD_TIMEOUT_S = 10.0  # a connection that sends nothing for this long counts as failed
DOWNLOAD_RETRIES = 1


class DatasetUnavailableError(RuntimeError):
    """A dataset is not prepared in the data dir and could not be downloaded."""


class UnknownDatasetError(ValueError):
    """No TFDS dataset has this name (the message lists the bundled ones and close names)."""


def load(name: str, split: str | Sequence[str], *, data_dir: str | None = None,
         seed: int | None = None):
    """Loads `split` of TFDS dataset `name` as supervised (input, label) pairs.

    Returns `(dataset, info)`, or `(list_of_datasets, info)` when `split` is a list. The
    dataset is prepared into `data_dir` (TFDS' default when None) on first use. Files are
    read in a fixed order, so with the pipeline's seeded shuffle a run is repeatable; `seed`
    only matters for datasets sharded into several files, whose order it then fixes.

    Raises `DatasetUnavailableError` within seconds when the data is not prepared and cannot
    be downloaded, and `ValueError` for a name TFDS does not know.

    Example:
        >>> (train, test), info = load("digits", ["train", "test"])  # doctest: +SKIP
        >>> info.features["label"].num_classes  # doctest: +SKIP
        10
    """
    if name in BUNDLED:
        importlib.import_module(BUNDLED[name])
    # A bundled dataset not yet prepared makes TFDS warn that its folder "has no
    # dataset_info.json": true, and about to be fixed by preparing it.
    with _absl_warnings_off() if name in BUNDLED else contextlib.nullcontext():
        try:
            builder = tfds.builder(name, data_dir=data_dir)
        except tfds.core.registered.DatasetNotFoundError as error:
            close = difflib.get_close_matches(name, [*BUNDLED, *tfds.list_builders()], n=3)
            hint = f"Did you mean {' or '.join(map(repr, close))}? " if close else ""
            raise UnknownDatasetError(
                f"No TFDS dataset named {name!r}. {hint}Bundled offline datasets: "
                f"{', '.join(sorted(BUNDLED))}; TFDS' catalog: "
                "https://www.tensorflow.org/datasets/catalog/overview") from error
        _prepare(builder, name, data_dir)
    if not builder.info.splits:  # another process prepared it while this one waited: read it anew
        builder = tfds.builder(name, data_dir=data_dir)
    # No TFDS autocache: `zoo.data.pipeline` caches after preprocessing, and a `take(k)` from an
    # autocached split (the card's image background, warm-up examples) makes TensorFlow warn that
    # the partial cache is discarded.
    read_config = tfds.ReadConfig(shuffle_seed=seed, interleave_cycle_length=1, try_autocache=False)
    dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False,
                                 read_config=read_config)
    return dataset, builder.info


def _prepare(builder, name: str, data_dir: str | None) -> None:
    """Downloads and prepares `builder` unless it is already prepared (then a no-op)."""
    if builder.is_prepared():  # reading needs no lock, so a read-only data dir works
        return
    try:
        with _one_process_at_a_time(data_dir or tfds.core.constants.DATA_DIR, name), _fail_fast_downloads():
            if builder.is_prepared():  # another process prepared it while this one waited
                return
            if name in BUNDLED:
                with _quiet_bundled_preparation(builder, name):
                    builder.download_and_prepare()
            else:
                builder.download_and_prepare()
    except (OSError, tfds.download.DownloadError) as error:
        where = data_dir or tfds.core.constants.DATA_DIR
        offline = OFFLINE_ALTERNATIVE.get(name.split("/")[0].split(":")[0])  # "wine_quality/red"
        kinds = ", ".join(f"{name}: {kind}" for name, kind in sorted(BUNDLED_KINDS.items()))
        bundled = (f"or train offline on a bundled dataset: --dataset {offline}" if offline
                   else f"or use a bundled offline dataset of the same kind if there is one ({kinds})")
        raise DatasetUnavailableError(
            f"Dataset {name!r} is not prepared in {where} and could not be downloaded "
            f"({type(error).__name__}: {_first_line(error)}). Pass --data-dir with a directory "
            f"where {name!r} is prepared (`tfds build {name} --data_dir DIR` on a machine with "
            f"internet, then copy DIR), {bundled}.") from error


@contextlib.contextmanager
def _one_process_at_a_time(data_dir: str, name: str) -> Iterator[None]:
    """Holds a lock file in a local `data_dir` while `name` is prepared: the workers of a
    multi-worker run start together, and two processes preparing one dataset into the same
    directory collide. Remote directories (gs://...) and systems without `fcntl` go unlocked."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    if "://" in data_dir:
        yield
        return
    directory = os.path.expanduser(data_dir)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, f".zoo-prepare-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def _quiet_bundled_preparation(builder, name: str) -> Iterator[None]:
    """Says in one line what happens to a bundled dataset on first use, instead of TFDS'
    "Downloading and preparing dataset Unknown size ..." banner, its "no dataset_info.json"
    warning and its shuffling bars: nothing is downloaded, and it takes a second."""
    import io

    from tensorflow_datasets.core.utils import tqdm_utils

    package = "statsmodels" if BUNDLED[name] == "zoo.data.time_series" else "scikit-learn"
    print(f"Preparing the bundled {BUNDLED_KINDS[name]} dataset {name!r} (from data installed with "
          f"{package}) in {builder.data_dir}: once, later runs read it from there.", flush=True)
    bars = getattr(tqdm_utils, "_active", True)
    tfds.display_progress_bar(False)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        tfds.display_progress_bar(bars)


@contextlib.contextmanager
def _absl_warnings_off() -> Iterator[None]:
    import logging

    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        absl_logger.setLevel(level)


@contextlib.contextmanager
def _fail_fast_downloads() -> Iterator[None]:
    # TFDS reads `downloader.MAX_RETRIES` on each request (10 by default, with back-off) and
    # sets no socket timeout; both are restored afterwards.
    from tensorflow_datasets.core.download import downloader

    retries, timeout = downloader.MAX_RETRIES, socket.getdefaulttimeout()
    downloader.MAX_RETRIES = DOWNLOAD_RETRIES
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        yield
    finally:
        downloader.MAX_RETRIES = retries
        socket.setdefaulttimeout(timeout)


def _first_line(error: BaseException) -> str:
    """The useful part of a download error: requests' messages run to several hundred chars."""
    text = " ".join(str(error).split())
    host = re.search(r"host='([^']+)'", text)
    if host and ("NameResolution" in text or "resolve" in text):
        return f"cannot resolve {host.group(1)}: no internet or DNS"
    if host:
        return f"cannot connect to {host.group(1)}: {text[:160]}..."
    return text if len(text) <= 200 else text[:200] + "..."

