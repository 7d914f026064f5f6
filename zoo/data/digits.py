"""`digits`: scikit-learn's handwritten digits in MNIST's format, as a TFDS dataset. Offline.

How it is made, so every MNIST recipe runs on it unchanged:
1. Source: the 1,797 8x8 images of scikit-learn's `load_digits` (UCI "Optical Recognition of
   Handwritten Digits": 32x32 bitmaps summed over 4x4 blocks, so values are 0-16).
2. Like MNIST (LeCun et al.), each digit is size-normalised into a 20x20 box (bilinear
   resampling of the 8x8 image, values scaled to 0-255) and centred by its centre of mass in
   a 28x28 image; background is 0, ink up to 255, dtype uint8.
3. A fixed, stratified split: 1,437 train and 360 test images (scikit-learn's
   `train_test_split(test_size=0.2, stratify=labels, random_state=0)`).

Example:
    >>> import tensorflow_datasets as tfds, zoo.data.digits
    >>> train = tfds.load("digits", split="train", as_supervised=True)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

SPLIT_SEED = 0
TEST_FRACTION = 0.2


def _to_mnist_frame(image: np.ndarray) -> np.ndarray:
    """One 8x8 image with values 0-16 -> a 28x28 uint8 image laid out as MNIST's."""
    from scipy import ndimage

    box = np.clip(ndimage.zoom(image * (255.0 / 16.0), 20 / 8, order=1), 0, 255)
    frame = np.zeros((28, 28))
    frame[4:24, 4:24] = box
    cy, cx = ndimage.center_of_mass(frame) if frame.sum() else (13.5, 13.5)
    frame = ndimage.shift(frame, (13.5 - cy, 13.5 - cx), order=1, mode="constant")
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8)[..., None]


def digits_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The `train` or `test` split as (images uint8 (n, 28, 28, 1), labels int64 (n,)).

    Example:
        >>> images, labels = digits_arrays("test")
        >>> images.shape, labels.shape
        ((360, 28, 28, 1), (360,))
    """
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test'. Received: split={split!r}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train_idx, test_idx = train_test_split(
        np.arange(len(digits.target)), test_size=TEST_FRACTION, stratify=digits.target,
        random_state=SPLIT_SEED)
    index = train_idx if split == "train" else test_idx
    images = np.stack([_to_mnist_frame(digits.images[i]) for i in index])
    return images, digits.target[index].astype(np.int64)


class Digits(tfds.core.GeneratorBasedBuilder):
    """Handwritten digits in MNIST's format, built offline from scikit-learn's bundled data."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: 1,437 train / 360 test, 28x28x1 uint8."}

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(28, 28, 1)),
                "label": tfds.features.ClassLabel(num_classes=10),
            }),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80",
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples("train"), "test": self._generate_examples("test")}

    def _generate_examples(self, split):
        images, labels = digits_arrays(split)
        for i, (image, label) in enumerate(zip(images, labels)):
            yield f"{split}-{i}", {"image": image, "label": int(label)}
