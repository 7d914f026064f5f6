"""zoo.data: loading through TFDS (fast, clear failure offline), iris_offline, pipelines."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo import data
from zoo.data.iris_offline import iris_arrays


@pytest.fixture
def no_internet(monkeypatch):
    """Downloads go to a proxy on a closed local port: refused at once, like a machine with
    no internet, whether or not this one has it."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")


def test_an_unprepared_dataset_fails_within_seconds_saying_where_and_what_to_do(tmp_path, no_internet):
    start = time.perf_counter()
    with pytest.raises(data.DatasetUnavailableError) as raised:
        data.load("mnist", "train", data_dir=str(tmp_path))
    assert time.perf_counter() - start < 10  # TFDS alone retries for about 3.5 minutes
    message = str(raised.value)
    assert "'mnist' is not prepared in " + str(tmp_path) in message
    assert "--data-dir" in message and "--dataset digits" in message


def test_a_dataset_without_a_bundled_twin_lists_the_bundled_ones(tmp_path, no_internet):
    with pytest.raises(data.DatasetUnavailableError, match=r"bundled offline dataset of the same kind if there is one \(co2: time series, diabetes: tabular regression, digits: MNIST-format images, iris_offline: tabular classification, sunspots: time series\)"):
        data.load("cifar10", "train", data_dir=str(tmp_path))


def test_a_tfds_config_name_finds_the_bundled_twin_of_its_dataset(tmp_path, no_internet):
    with pytest.raises(data.DatasetUnavailableError, match="--dataset diabetes"):
        data.load("wine_quality/red", "train", data_dir=str(tmp_path))


def test_diabetes_has_all_442_patients_in_raw_units_split_353_89(tmp_path):
    from sklearn.datasets import load_diabetes

    (train, test), info = data.load("diabetes", ["train", "test"], data_dir=str(tmp_path))
    assert info.supervised_keys == ("features", "target")
    assert info.features["features"].shape == (10,)
    rows = {split: [(tuple(x.numpy().round(3)), float(y)) for x, y in ds]
            for split, ds in (("train", train), ("test", test))}
    assert (len(rows["train"]), len(rows["test"])) == (353, 89)
    original = load_diabetes(scaled=False)
    expected = sorted((tuple(np.float32(r).round(3)), float(t)) for r, t in zip(original.data, original.target))
    assert sorted(rows["train"] + rows["test"]) == expected


def test_an_unknown_name_is_a_value_error_naming_the_bundled_datasets():
    with pytest.raises(ValueError, match="No TFDS dataset named 'mnistt'. Did you mean 'mnist'.*Bundled offline datasets: co2, diabetes, digits, iris_offline, sunspots"):
        data.load("mnistt", "train")


def test_iris_offline_has_tfds_iris_features_and_all_150_rows(tmp_path):
    official = tfds.builder("iris").info  # the code's metadata: no download needed
    (train,), info = data.load("iris_offline", ["train"], data_dir=str(tmp_path))
    assert repr(info.features) == repr(official.features)
    assert info.supervised_keys == official.supervised_keys
    assert info.features["label"].names == official.features["label"].names
    rows = sorted((tuple(x.numpy().round(1)), int(y)) for x, y in train)
    features, labels = iris_arrays()
    assert rows == sorted((tuple(f.round(1)), int(l)) for f, l in zip(features, labels))


def test_iris_offline_slices_mix_the_classes(tmp_path):
    (head, tail), _ = data.load("iris_offline", ["train[:80%]", "train[80%:]"], data_dir=str(tmp_path))
    for split in (head, tail):
        assert len({int(y) for _, y in split}) == 3  # TFDS stores examples shuffled


def _epochs(dataset, count=2):
    return [[y.numpy().tolist() for _, y in dataset] for _ in range(count)]


def test_training_pipelines_repeat_with_a_seed_and_reshuffle_each_epoch():
    examples = tf.data.Dataset.from_tensor_slices((np.zeros((50, 2), np.float32), np.arange(50)))
    first = _epochs(data.pipeline(examples, batch_size=8, training=True, seed=3))
    again = _epochs(data.pipeline(examples, batch_size=8, training=True, seed=3))
    other = _epochs(data.pipeline(examples, batch_size=8, training=True, seed=4))
    assert first == again and first != other
    assert first[0] != first[1]  # a new order every epoch
    assert sorted(sum(first[0], [])) == list(range(50))  # every example once per epoch
    assert [len(batch) for batch in first[0]] == [8] * 6 + [2]  # global batches


def test_evaluation_pipelines_keep_the_order_and_never_augment():
    examples = tf.data.Dataset.from_tensor_slices((np.ones((10, 1), np.float32), np.arange(10)))
    augment = lambda x, y: (x * 0, y)  # noqa: E731
    batches = list(data.pipeline(examples, batch_size=4, training=False, augment=augment))
    assert [y.numpy().tolist() for _, y in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(float(tf.reduce_min(x)) == 1.0 for x, _ in batches)
    trained = list(data.pipeline(examples, batch_size=4, training=True, seed=0, augment=augment))
    assert all(float(tf.reduce_max(x)) == 0.0 for x, _ in trained)


def test_pipelines_run_without_the_autotuning_thread_whose_teardown_stalled_every_epoch():
    """`fit` makes a new iterator every epoch; destroying one whose pipeline autotunes waited
    for tf.data's autotuning thread to wake, seconds at a time (TensorFlow 2.21; the speed is
    measured by benchmarks/train_throughput.py). Parallel map and prefetch still run."""
    examples = tf.data.Dataset.from_tensor_slices((np.zeros((64, 1), np.float32), np.arange(64)))
    for training in (True, False):
        batches = data.pipeline(examples, batch_size=8, training=training, seed=0, preprocess=lambda x, y: (x, y))
        assert batches.options().autotune.enabled is False
        assert sorted(sum(([int(v) for v in y] for _, y in batches), [])) == list(range(64))


def _counting_preprocess():
    """A pass-through `preprocess` and the variable counting the examples it has seen."""
    calls = tf.Variable(0)

    def count(x, y):
        calls.assign_add(1)
        return x, y

    return calls, count


def test_preprocessing_runs_once_thanks_to_the_cache():
    calls, count = _counting_preprocess()
    examples = tf.data.Dataset.from_tensor_slices((np.zeros((6, 1), np.float32), np.arange(6)))
    batches = data.pipeline(examples, batch_size=3, training=True, seed=0, preprocess=count)
    for _ in range(3):
        list(batches)
    assert int(calls.numpy()) == 6


def test_the_cache_is_full_before_keras_iterates_so_overlapping_iterators_see_every_example():
    # Under a tf.distribute strategy Keras takes one batch from a first iterator, drops it and
    # starts the real pass while the first may still be writing the cache; TF's in-memory
    # cache can then end the real pass early (it did: evaluate saw 148 of 360 examples).
    # A cache filled by `pipeline` is only ever read: nothing runs the preprocessing again.
    calls, count = _counting_preprocess()
    examples = tf.data.Dataset.from_tensor_slices((np.zeros((300, 1), np.float32), np.arange(300)))
    batches = data.pipeline(examples, batch_size=64, training=False, preprocess=count)
    assert int(calls.numpy()) == 300  # filled when the pipeline is made
    dropped = iter(batches)
    next(dropped)  # what Keras' peek does; `dropped` stays alive during the real pass
    seen = [int(y) for _, labels in batches for y in labels]
    assert seen == list(range(300))
    del dropped
    assert [int(y) for _, labels in batches for y in labels] == list(range(300))
    assert int(calls.numpy()) == 300


def test_an_infinite_dataset_is_not_cached_in_memory():
    examples = tf.data.Dataset.from_tensor_slices((np.zeros((3, 1), np.float32), np.arange(3))).repeat()
    with pytest.raises(ValueError, match=r"Cannot cache an infinite dataset in memory.*Pass `cache=False`"):
        data.pipeline(examples, batch_size=2, training=False)
    batches = data.pipeline(examples, batch_size=2, training=False, cache=False)
    assert [int(y) for y in next(iter(batches))[1]] == [0, 1]


def test_a_bad_batch_size_is_refused():
    examples = tf.data.Dataset.from_tensor_slices(np.zeros(3))
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive integer. Received: batch_size=0"):
        data.pipeline(examples, batch_size=0, training=True)
