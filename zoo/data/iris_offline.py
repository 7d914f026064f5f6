"""`iris_offline`: Fisher's iris data in the format of TFDS's `iris`, built offline.

TFDS's own `iris` downloads from the UCI repository. This builder makes the same dataset
from the copy that ships inside scikit-learn (`load_iris`, the 150 UCI rows in UCI order),
with the same features as TFDS's `iris`: `features` float32 (4,) (sepal length, sepal width,
petal length, petal width in cm) and `label` (0 setosa, 1 versicolor, 2 virginica), one
`train` split of 150 examples. Like TFDS's `iris`, it has no test split: recipes slice
`train` (TFDS stores examples in a fixed shuffled order, so slices mix the classes).

Example:
    >>> import tensorflow_datasets as tfds, zoo.data.iris_offline
    >>> ds = tfds.load("iris_offline", split="train[:80%]", as_supervised=True)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

CLASS_NAMES = ("Iris-setosa", "Iris-versicolor", "Iris-virginica")  # TFDS iris' names


def iris_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 150 rows as (features float32 (150, 4), labels int64 (150,)), in UCI order.

    Example:
        >>> features, labels = iris_arrays()
        >>> features.shape, np.bincount(labels).tolist()
        ((150, 4), [50, 50, 50])
    """
    from sklearn.datasets import load_iris

    iris = load_iris()
    return iris.data.astype(np.float32), iris.target.astype(np.int64)


class IrisOffline(tfds.core.GeneratorBasedBuilder):
    """Fisher's iris from scikit-learn's bundled copy, shaped like TFDS's `iris`."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: 150 examples, TFDS iris' features."}

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict({
                "features": tfds.features.Tensor(shape=(4,), dtype=np.float32),
                "label": tfds.features.ClassLabel(names=CLASS_NAMES),
            }),
            supervised_keys=("features", "label"),
            homepage="https://archive.ics.uci.edu/dataset/53/iris",
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        features, labels = iris_arrays()
        for i, (row, label) in enumerate(zip(features, labels)):
            yield i, {"features": row, "label": int(label)}
