"""Data for each kind of recipe: TFDS splits turned into `RecipeData` the runner can batch.

Recipes of the same task share one function here (every MNIST-format recipe reads images
the same way); what differs between recipes is their config.
"""

from __future__ import annotations

from typing import Any

from zoo import console

tf = console.import_tensorflow()

import tensorflow_datasets as tfds

from zoo import data
from zoo.training.config import RecipeConfig
from zoo.training.recipe import RecipeData

MAX_SHIFT = 0.1  # fraction of the image: about 3 pixels on 28x28
MAX_ROTATION_DEGREES = 10.0


def load_splits(config: RecipeConfig):
    """(train, validation or None, test), info: the config's TFDS splits as (x, y) pairs."""
    splits = [config.train_split, config.test_split]
    if config.validation_split:
        splits.insert(1, config.validation_split)
    datasets, info = data.load(config.dataset, splits, data_dir=config.data_dir, seed=config.seed)
    validation = datasets[1] if config.validation_split else None
    return datasets[0], validation, datasets[-1], info


def _supervised_features(info, config):
    if not info.supervised_keys:
        raise ValueError(f"Dataset {config.dataset!r} has no supervised (input, label) keys; "
                         "recipes need a supervised dataset.")
    x_key, y_key = info.supervised_keys[:2]
    return info.features[x_key], info.features[y_key]


def image_augmenter(seed: int):
    """Small random shifts and rotations, filled with background (0), for training batches.

    LeNet-5's published 0.8% MNIST error used such distortions of the training set.

    Example:
        >>> augment = image_augmenter(seed=0)  # doctest: +SKIP
        >>> images, labels = augment(images, labels)  # doctest: +SKIP
    """
    import keras

    shift = keras.layers.RandomTranslation(MAX_SHIFT, MAX_SHIFT, fill_mode="constant", seed=seed)
    rotate = keras.layers.RandomRotation(MAX_ROTATION_DEGREES / 360, fill_mode="constant", seed=seed + 1)

    def augment(images, labels):
        return rotate(shift(images, training=True), training=True), labels

    return augment


def image_classification(config: RecipeConfig, *, augment: bool = False, rescale: bool = False) -> RecipeData:
    """Images (uint8 pixels cast to float32, unscaled: models rescale) with integer labels.

    `rescale=True` is for models without a rescaling layer of their own (MLPs): pixels are
    scaled to [0, 1] in the pipeline by a `Rescaling` layer that is also exported in front
    of the model, so the SavedModel takes raw 0-255 pixels like every image model's export.

    Example:
        >>> data = image_classification(config)  # doctest: +SKIP
        >>> data.model_config  # doctest: +SKIP
        {'input_shape': (28, 28, 1), 'num_classes': 10}
    """
    train, validation, test, info = load_splits(config)
    image, label = _supervised_features(info, config)
    if None in image.shape:
        raise ValueError(f"Dataset {config.dataset!r} has images of varying size {image.shape}; "
                         "these recipes need fixed-size images (MNIST-like datasets).")

    scale = None
    if rescale:
        import keras

        scale = keras.layers.Rescaling(1 / 255, name="rescale")

    def to_float(pixels, label):
        pixels = tf.cast(pixels, tf.float32)
        return (scale(pixels) if scale is not None else pixels), label

    return RecipeData(
        train=train, validation=validation, test=test, input_name="images",
        model_config={"input_shape": tuple(image.shape), "num_classes": label.num_classes},
        preprocess=to_float, augment=image_augmenter(config.seed) if augment else None,
        preprocessor=scale, input_spec=tf.TensorSpec((None, *image.shape), tf.float32) if rescale else None,
        metadata={"classes": list(label.names), "background": image_background(train)})


def image_background(images: tf.data.Dataset, count: int = 256) -> str:
    """"dark" or "light": the median border pixel of the first `count` images against the middle
    of the pixel range. The card keeps it, so `zoo predict` can tell that a black-on-white
    drawing must be inverted for a model trained on MNIST's white-on-black digits."""
    import numpy as np

    borders = []
    for image, _ in images.take(count):
        pixels = np.asarray(image, np.float64)
        borders.append(np.concatenate([pixels[0].ravel(), pixels[-1].ravel(),
                                       pixels[:, 0].ravel(), pixels[:, -1].ravel()]))
    if not borders:
        return "unknown"
    top = 255.0 if images.element_spec[0].dtype == tf.uint8 else max(1.0, float(np.max(np.concatenate(borders))))
    return "dark" if np.median(np.concatenate(borders)) < top / 2 else "light"


def tabular_classification(config: RecipeConfig, *, keep_classes: tuple[int, ...] | None = None) -> RecipeData:
    """Feature vectors with integer labels; `keep_classes` keeps those classes, relabelled 0..k-1.

    Example:
        >>> data = tabular_classification(config, keep_classes=(0, 1))  # setosa vs versicolor  # doctest: +SKIP
    """
    train, validation, test, info = load_splits(config)
    features, label = _supervised_features(info, config)
    names = list(label.names)
    preprocess = None
    if keep_classes is not None:
        keep = tf.constant(keep_classes, tf.int64)

        def kept(x, y):
            return tf.reduce_any(tf.equal(tf.cast(y, tf.int64), keep))

        def relabel(x, y):
            return tf.cast(x, tf.float32), tf.argmax(tf.cast(tf.equal(tf.cast(y, tf.int64), keep), tf.int64))

        train, test = _filtered(train, kept), _filtered(test, kept)
        validation = _filtered(validation, kept) if validation is not None else None
        preprocess = relabel
        names = [names[i] for i in keep_classes]
    return RecipeData(
        train=train, validation=validation, test=test, input_name="features",
        model_config={"input_shape": tuple(features.shape), "num_classes": len(names)},
        preprocess=preprocess or (lambda x, y: (tf.cast(x, tf.float32), y)),
        metadata={"classes": names})


def _filtered(dataset: tf.data.Dataset, predicate) -> tf.data.Dataset:
    """`dataset.filter(predicate)` with its size counted (one pass: tabular data is small).

    A filtered dataset's size is unknown to tf.data, and Keras then warns at the end of the
    first epoch that the input "ran out of data".
    """
    dataset = dataset.filter(predicate)
    count = int(dataset.reduce(0, lambda count, _: count + 1))
    return dataset.apply(tf.data.experimental.assert_cardinality(count))


def tabular_regression(config: RecipeConfig) -> RecipeData:
    """Feature vectors with real-valued targets, both standardised for training.

    A feature dict (TFDS' `wine_quality`) becomes one vector in sorted key order. Inputs go
    through a `Normalization` layer adapted on the training split, exported in front of the
    model (the SavedModel takes raw features); targets are standardised with the training
    split's mean and std, which `target_scale` carries to the metrics and the export (they
    report target units).

    Example:
        >>> data = tabular_regression(config)  # doctest: +SKIP
        >>> data.model_config, data.target_scale  # doctest: +SKIP
        ({'input_shape': (10,)}, (153.7, 77.9))
    """
    import keras
    import numpy as np

    train, validation, test, info = load_splits(config)
    features, target = _supervised_features(info, config)
    if getattr(target, "shape", ()) not in ((), (1,)):
        raise ValueError(f"Dataset {config.dataset!r} has targets of shape {target.shape}; "
                         "these recipes need one real-valued target per example.")
    keys = sorted(features.keys()) if isinstance(features, tfds.features.FeaturesDict) else None

    def as_vector(x, y):
        if keys is not None:
            x = tf.stack([tf.cast(x[key], tf.float32) for key in keys], axis=-1)
        return tf.reshape(tf.cast(x, tf.float32), [-1]), tf.reshape(tf.cast(y, tf.float32), [1])

    x_train, y_train = (np.stack(part) for part in zip(*train.map(as_vector).as_numpy_iterator()))
    normalizer = keras.layers.Normalization(name="standardize")
    normalizer.adapt(x_train)
    loc, scale = float(y_train.mean()), float(y_train.std() or 1.0)

    def preprocess(x, y):
        x, y = as_vector(x, y)
        return normalizer(x[None])[0], (y - loc) / scale

    named = (info.metadata or {}).get("feature_names")  # bundled diabetes stores them
    names = keys or named or [f"x{i}" for i in range(x_train.shape[1])]
    return RecipeData(
        train=train, validation=validation, test=test, input_name="features",
        model_config={"input_shape": (x_train.shape[1],)}, preprocess=preprocess,
        preprocessor=normalizer, input_spec=tf.TensorSpec((None, x_train.shape[1]), tf.float32),
        raw_input=lambda x, y: as_vector(x, y)[0], target_scale=(loc, scale),
        metadata={"features": list(names), "target": info.supervised_keys[1],
                  "target_mean": loc, "target_std": scale})


def text_classification(config: RecipeConfig, *, vocab_size: int, sequence_length: int) -> RecipeData:
    """Text tokenised by a `TextVectorization` layer adapted on the training split.

    The layer is exported in front of the model, so the SavedModel takes raw strings.

    Example:
        >>> data = text_classification(config, vocab_size=20000, sequence_length=200)  # doctest: +SKIP
    """
    import keras

    train, validation, test, info = load_splits(config)
    _, label = _supervised_features(info, config)
    vectorizer = keras.layers.TextVectorization(
        max_tokens=vocab_size, output_sequence_length=sequence_length, name="tokenizer")
    vectorizer.adapt(train.map(lambda text, _: text).batch(1024))

    def tokenize(text, label):
        return vectorizer(text[None])[0], label

    return RecipeData(
        train=train, validation=validation, test=test, input_name="text",
        model_config={"input_shape": (sequence_length,), "vocab_size": vectorizer.vocabulary_size(),
                      "num_classes": label.num_classes},
        preprocess=tokenize, preprocessor=vectorizer,
        input_spec=tf.TensorSpec((None,), tf.string),
        metadata={"classes": list(label.names), "vocabulary_size": vectorizer.vocabulary_size()})


def forecasting(config: RecipeConfig, *, history: int, horizon: int, stride: int = 1,
                baselines: dict[str, Any] | None = None) -> RecipeData:
    """A bundled time series (`zoo.data.windows`) as (history, horizon) windows: training
    windows every `stride` steps with their targets in the training part, validation and test
    windows at every origin whose targets lie in those parts (the test part's rolling origin).
    A config with `score_part="validation"` is scored on the validation windows instead of
    the test ones (everything test-labelled in the run then describes the validation part), so
    settings can be chosen without looking at the test part.
    Values are standardised with the training part's mean and std, in the pipeline and by a
    layer exported in front of the model, and forecasts are mapped back (`target_scale`), so
    the SavedModel takes a raw window and answers in the series' units.

    `evaluate` scores the model's forecasts on the test origins (`zoo.forecasting.metrics`)
    beside the seasonal-naive and, when `baselines` holds SARIMA settings (`d`,
    `seasonal_d`, `max_order`), the seasonal-ARIMA forecasts from the same origins, writes
    `forecast.png` and `baselines.json` (and, for a model with attention pooling,
    `attention.png`: the weights behind the last forecast), and returns the scores for
    `metrics.json`.

    Example:
        >>> data = forecasting(config, history=36, horizon=12)  # doctest: +SKIP
        >>> data.model_config  # doctest: +SKIP
        {'input_shape': (36, 1), 'num_outputs': 12}
    """
    import json

    import keras
    import numpy as np

    from zoo import forecasting as scores
    from zoo import heads, uncertainty
    from zoo.data import windows as series_windows
    from zoo.layers import attention

    series = series_windows.load_series(config.dataset, data_dir=config.data_dir)
    scaler = series_windows.Standardizer.fit(series.part("train"))
    cut = {name: series_windows.windows(series.values, history, horizon, part=series.parts[name],
                                        stride=stride if name == "train" else 1)
           for name in series_windows.SPLITS}
    standardize = keras.layers.Normalization(axis=None, mean=scaler.mean, variance=scaler.std ** 2,
                                             name="standardize")
    standardize.build((None, history, 1))  # set mean and variance now: the export tracks a built layer

    def preprocess(x, y):  # what `standardize` does in the export, as plain arithmetic in tf.data
        return (x - scaler.mean) / scaler.std, (y - scaler.mean) / scaler.std

    def as_dataset(name):
        return tf.data.Dataset.from_tensor_slices(cut[name])

    scored = getattr(config, "score_part", "test")
    if scored not in ("test", "validation"):
        raise ValueError(f"`score_part` must be 'test' or 'validation' (to choose settings without looking at the "
                         f"test part). Received: score_part={scored!r}")
    origins = series_windows.origins(series.parts[scored], history, horizon)
    train_part = series.parts["train"]

    def evaluate(model, out_dir):
        x, truth = cut[scored]
        samples = getattr(config, "mc_samples", None) or 1
        result = uncertainty.predict_with_uncertainty(model, scaler(x), samples, head=heads.head_of(model))
        if result.std is None:
            raise ValueError(f"Forecasts need a std per step: model {config.model!r} outputs "
                             f"{heads.head_of(model)!r}. Use --set distribution=normal or mc_dropout=true.")
        forecasts = {config.model: (scaler.inverse(result.mean), result.std * scaler.std),
                     "seasonal naive": scores.seasonal_naive(series.values, origins, horizon, series.period,
                                                             train_part)}
        chosen = {}
        if baselines is not None:
            sarima = scores.fit_sarima(series.part("train"), series.period, d=baselines["d"],
                                       seasonal_d=baselines["seasonal_d"], max_order=baselines["max_order"])
            forecasts["SARIMA"] = sarima.forecast(series.values, origins, horizon)
            chosen = {"sarima": sarima.describe(), "sarima_aic": sarima.aic, "sarima_candidates": sarima.candidates}
        scale = scores.mase_scale(series.part("train"), series.period)
        table = {name: scores.metrics(mean, std, truth, scale) for name, (mean, std) in forecasts.items()}
        (out_dir / "baselines.json").write_text(json.dumps(
            {"origins": [series.dates[o] for o in (origins[0], origins[-1])], "count": len(origins),
             "horizon": horizon, "mase_scale": scale, **chosen, "scores": table}, indent=2) + "\n")
        scores.plot_forecast(series.dates, series.values, origins[-1],
                             {name: (mean[-1], std[-1]) for name, (mean, std) in forecasts.items()},
                             out_dir / "forecast.png", units=series.units, context=4 * horizon,
                             title=f"{config.model} on {config.dataset}: {horizon} steps from "
                                   f"{series.dates[origins[-1]]}")
        if attention.attention_layer(model) is not None:  # which steps of the window the last forecast drew on
            last = np.repeat(scaler(x[-1:]), samples, axis=0)  # MC dropout reaches the LSTM: average its passes
            weights = keras.ops.convert_to_numpy(attention.attention_model(model)(last, training=False)).mean(0)
            scores.plot_attention(series.dates, series.values, origins[-1], weights,
                                  {config.model: (forecasts[config.model][0][-1], forecasts[config.model][1][-1])},
                                  out_dir / "attention.png", units=series.units,
                                  title=f"{config.model} on {config.dataset}: the window its forecast from "
                                        f"{series.dates[origins[-1]]} attended to")
        found = dict(table[config.model])
        for name, key in (("seasonal naive", "seasonal_naive"), ("SARIMA", "sarima")):
            found.update({f"{key}_{metric}": value for metric, value in table.get(name, {}).items()})
        return found

    return RecipeData(
        train=as_dataset("train"), validation=as_dataset("validation"), test=as_dataset(scored),
        input_name="window", model_config={"input_shape": (history, 1), "num_outputs": horizon},
        preprocess=preprocess, preprocessor=standardize, input_spec=tf.TensorSpec((None, history, 1), tf.float32),
        target_scale=(scaler.mean, scaler.std), evaluate=evaluate,
        metadata={"series": config.dataset, "units": series.units, "frequency": series.frequency,
                  "period": series.period, "history": history, "horizon": horizon,
                  "splits": {name: [series.dates[a], series.dates[b - 1]] for name, (a, b) in series.parts.items()},
                  "standardize": {"mean": scaler.mean, "std": scaler.std}})
