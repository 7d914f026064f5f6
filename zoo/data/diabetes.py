"""`diabetes`: Efron et al.'s diabetes regression data as a TFDS dataset, built offline.

The 442 patients of scikit-learn's bundled `load_diabetes(scaled=False)` (Efron, Hastie,
Johnstone and Tibshirani, "Least Angle Regression", Annals of Statistics 2004): ten baseline
measurements (age, sex, body-mass index, mean blood pressure and six blood serum values
s1-s6, in their original units) and the target, a quantitative measure of disease
progression one year later (25-346, mean 152, std 77). Features `features` float32 (10,),
`target` float32; a fixed random split of 353 `train` and 89 `test` examples
(`train_test_split(test_size=0.2, random_state=0)`).

It is the bundled offline stand-in for TFDS' downloadable tabular regression datasets
(`wine_quality`): recipes train on it with `--dataset diabetes`.

Example:
    >>> import tensorflow_datasets as tfds, zoo.data.diabetes
    >>> train = tfds.load("diabetes", split="train", as_supervised=True)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

FEATURE_NAMES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def diabetes_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (features, targets), "test": (...)}: float32 arrays, the fixed split.

    Example:
        >>> {name: x.shape for name, (x, y) in diabetes_splits().items()}
        {'train': (353, 10), 'test': (89, 10)}
    """
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    data = load_diabetes(scaled=False)
    x_train, x_test, y_train, y_test = train_test_split(
        data.data.astype(np.float32), data.target.astype(np.float32), test_size=TEST_FRACTION,
        random_state=SPLIT_SEED)
    return {"train": (x_train, y_train), "test": (x_test, y_test)}


class Diabetes(tfds.core.GeneratorBasedBuilder):
    """Efron et al.'s diabetes data from scikit-learn's bundled copy (regression)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: 353 train and 89 test examples, raw units, feature names."}

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict({
                "features": tfds.features.Tensor(shape=(len(FEATURE_NAMES),), dtype=np.float32),
                "target": tfds.features.Scalar(dtype=np.float32),
            }),
            supervised_keys=("features", "target"),
            metadata=tfds.core.MetadataDict(feature_names=list(FEATURE_NAMES)),
            homepage="https://www4.stat.ncsu.edu/~boos/var.select/diabetes.html",
        )

    def _split_generators(self, dl_manager):
        return {name: self._generate_examples(x, y) for name, (x, y) in diabetes_splits().items()}

    def _generate_examples(self, features, targets):
        for i, (row, target) in enumerate(zip(features, targets)):
            yield i, {"features": row, "target": float(target)}
