"""The bundled `digits` dataset: MNIST's format, a fixed split, prepared offline by TFDS."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_datasets as tfds
from scipy import ndimage

from zoo.data.digits import digits_arrays  # also registers the TFDS builder


def test_splits_have_mnist_format_and_fixed_stratified_sizes():
    train_x, train_y = digits_arrays("train")
    test_x, test_y = digits_arrays("test")
    assert train_x.shape == (1437, 28, 28, 1) and test_x.shape == (360, 28, 28, 1)
    assert train_x.dtype == np.uint8 and train_x.max() == 255 and train_x.min() == 0
    assert sorted(set(train_y)) == list(range(10)) and np.bincount(test_y).min() >= 35
    again, _ = digits_arrays("test")
    np.testing.assert_array_equal(again, test_x)  # the split is fixed


def test_digits_are_centred_by_mass_inside_a_20_pixel_box_like_mnist():
    images, _ = digits_arrays("test")
    for image in images[:50, :, :, 0].astype(float):
        cy, cx = ndimage.center_of_mass(image)
        assert abs(cy - 13.5) < 0.6 and abs(cx - 13.5) < 0.6
        rows, cols = np.nonzero(image > 0)
        assert rows.max() - rows.min() < 22 and cols.max() - cols.min() < 22


def test_tfds_prepares_and_loads_it_offline(tmp_path):
    train = tfds.load("digits", split="train", data_dir=str(tmp_path), as_supervised=True)
    images, labels = digits_arrays("train")
    first = next(iter(train.take(1)))
    assert first[0].shape == (28, 28, 1) and first[0].dtype.name == "uint8"
    assert train.cardinality().numpy() == len(labels)
    info = tfds.builder("digits", data_dir=str(tmp_path)).info
    assert info.splits["test"].num_examples == 360 and info.features["label"].num_classes == 10


def test_unknown_split_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"'train' or 'test'\. Received: split='validation'"):
        digits_arrays("validation")
