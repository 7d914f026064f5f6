"""Recurrent models: padding must never change a prediction; `task=` picks the head."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
import zoo.layers
from zoo import heads


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


TOKENS = np.array([[5, 17, 3, 9, 2], [8, 8, 1, 40, 11]], dtype="int32")


@pytest.mark.parametrize("config", [
    {},  # defaults: bidirectional LSTM with attention pooling
    {"bidirectional": False, "attention_pooling": False},
    {"lstm_units": [16, 8], "bidirectional": True, "attention_pooling": False},
])
def test_text_padding_does_not_change_the_prediction(config):
    model = zoo.build("lstm_text", vocab_size=50, embedding_dim=8, **config)
    plain = _predict(model, TOKENS)
    zeros = np.zeros((2, 4), "int32")
    np.testing.assert_allclose(_predict(model, np.concatenate([TOKENS, zeros], 1)), plain, atol=1e-6)
    np.testing.assert_allclose(_predict(model, np.concatenate([zeros, TOKENS], 1)), plain, atol=1e-6)


def test_sequence_padding_with_mask_value_does_not_change_the_prediction():
    model = zoo.build("lstm_sequence", input_shape=(None, 2), mask_value=0.0, bidirectional=True,
                      attention_pooling=True)
    series = np.random.default_rng(0).uniform(0.1, 1.0, size=(3, 7, 2)).astype("float32")
    padded = np.concatenate([series, np.zeros((3, 5, 2), "float32")], axis=1)
    np.testing.assert_allclose(_predict(model, padded), _predict(model, series), atol=1e-6)


def test_sequence_task_selects_regression_or_classification_head():
    regressor = zoo.build("lstm_sequence", num_outputs=3)
    assert regressor.output_shape == (None, 3) and regressor.loss == "mse"
    classifier = zoo.build("lstm_sequence", task="classification", num_outputs=4)
    assert classifier.output_shape == (None, 4)
    assert type(classifier.loss).__name__ == "SparseCategoricalCrossentropy"
    with pytest.raises(ValueError, match=r"`task` must be one of .*Received: task='clustering'"):
        zoo.build("lstm_sequence", task="clustering")


def test_text_classifier_learns_a_keyword_rule():
    rng = np.random.default_rng(0)
    tokens = rng.integers(2, 30, size=(256, 12)).astype("int32")
    labels = (tokens == 7).any(axis=1).astype("int32")  # class 1 iff token 7 occurs
    model = zoo.build("lstm_text", vocab_size=30, embedding_dim=16, lstm_units=[16], dropout=0.0)
    model.fit(tokens, labels, epochs=15, batch_size=32, verbose=0)
    accuracy = model.evaluate(tokens, labels, verbose=0, return_dict=True)["accuracy"]
    assert accuracy > 0.95


def _probe(rate: float, *, recurrent: bool):
    """An MCLSTM of 6 units whose step outputs show its dropout masks: forget gate shut, input
    and output gates open, unit j's cell input reads input feature j (and, with `recurrent`, its
    own previous output j). Each unit's output is then a fixed function of what its masks let
    through at that step."""
    features = 6
    layer = zoo.layers.MCLSTM(features, dropout=0.0 if recurrent else rate, recurrent_dropout=rate if recurrent else 0.0,
                              return_sequences=True, seed=1)
    layer.build((None, None, features))
    kernel = np.zeros((features, 4 * features), "float32")
    kernel[:, 2 * features:3 * features] = np.eye(features)  # gates in Keras' order: i, f, c, o
    recurrent_kernel = np.zeros((features, 4 * features), "float32")
    if recurrent:
        recurrent_kernel[:, 2 * features:3 * features] = np.eye(features)
    bias = np.zeros(4 * features, "float32")
    bias[:features], bias[features:2 * features], bias[3 * features:] = 20.0, -20.0, 20.0
    layer.set_weights([kernel, recurrent_kernel, bias])
    return layer


@pytest.mark.parametrize("recurrent", [False, True], ids=["input mask", "recurrent mask"])
def test_mc_lstm_masks_are_fixed_across_time_steps_and_differ_across_samples(recurrent):
    # Gal & Ghahramani's variational RNN dropout: one mask per sequence, used at every step.
    layer = _probe(0.5, recurrent=recurrent)
    x = np.ones((64, 12, 6), "float32")
    outputs = np.asarray(layer(x))  # inference: no training flag, the masks stay on
    if recurrent:
        # A unit whose recurrent input is kept settles above 0.7; a dropped one stays at
        # tanh(tanh(1)) = 0.64 at every step. Step 0 has no previous output to drop.
        kept = outputs[:, 1:, :] > 0.7
    else:
        kept = outputs > 0.1  # a dropped input gives exactly 0
    assert (kept == kept[:, :1, :]).all(), "a mask changed between time steps"
    assert len({k[0].tobytes() for k in kept}) > 20, "the sequences of a batch share their mask"
    assert 0.35 < kept.mean() < 0.65
    assert (np.asarray(layer(x))[:, -1] != outputs[:, -1]).any(), "a second prediction drew the same masks"


@pytest.mark.parametrize("name, config", [
    ("lstm_text", {"vocab_size": 40, "embedding_dim": 8, "lstm_units": [8], "dropout": 0.3}),
    ("lstm_sequence", {"input_shape": (None, 2), "lstm_units": [8], "dropout": 0.3, "bidirectional": True}),
])
def test_mc_dropout_lstms_predict_samples_and_plain_ones_do_not(name, config, tmp_path):
    from zoo import uncertainty

    rng = np.random.default_rng(0)
    x = (rng.integers(1, 40, (5, 9)).astype("int32") if name == "lstm_text"
         else rng.normal(size=(5, 9, 2)).astype("float32"))
    plain = zoo.build(name, **config)
    np.testing.assert_array_equal(plain.predict(x, verbose=0), plain.predict(x, verbose=0))
    model = zoo.build(name, mc_dropout=True, **config)
    assert not np.allclose(model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert plain.count_params() == model.count_params()  # dropout adds no weights
    if heads.get(heads.head_of(model)).sample_outputs:  # the text classifier: logits
        import tensorflow as tf

        from zoo.export import export_model

        result = uncertainty.predict_with_uncertainty(model, x, samples=32)
        assert np.all(result.mutual_information > 0) and result.probabilities.shape == (5, 2)
        served = tf.saved_model.load(str(export_model(model, tmp_path, mc_samples=8))).signatures[
            "serving_default"](inputs=tf.constant(x))
        assert set(served) == {"probabilities", "classes", "entropy"}
        np.testing.assert_allclose(served["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match=r"`mc_dropout=True` needs dropout to sample from"):
        zoo.build(name, mc_dropout=True, **{**config, "dropout": 0.0})


def _last_three_task(seed: int = 0):
    """A sequence regression with a known noise level: the mean of the last 3 of 12 values in
    [-1, 1] plus N(0, 0.1^2). Returns 2,000 training and 500 test (x, y) pairs, and 500
    sequences of values in [3, 4], never seen in training."""
    rng = np.random.default_rng(seed)

    def sequences(n, low=-1.0, high=1.0):
        x = rng.uniform(low, high, size=(n, 12, 1)).astype("float32")
        return x, (x[:, -3:, 0].mean(axis=1) + 0.1 * rng.normal(size=n))[:, None].astype("float32")

    return sequences(2000), sequences(500), sequences(500, 3.0, 4.0)[0]


def test_a_normal_headed_mc_dropout_lstm_knows_when_a_sequence_is_unlike_its_training_data(tmp_path):
    import tensorflow as tf

    from zoo import uncertainty
    from zoo.export import export_model, read_card

    (x, y), (test_x, test_y), unlike = _last_three_task()
    keras.utils.set_random_seed(0)
    model = zoo.build("lstm_sequence", lstm_units=[16], dropout=0.1, mc_dropout=True, distribution="normal")
    assert heads.head_of(model) == "normal" and model.output_shape == (None, 2)
    model.fit(x, y, epochs=20, batch_size=64, verbose=0)
    seen = uncertainty.predict_with_uncertainty(model, test_x, samples=32)
    unseen = uncertainty.predict_with_uncertainty(model, unlike, samples=32)
    # The epistemic part rises where the data never went; the intervals are not overconfident
    # where it did (measured: AUROC 1.00, coverage 0.998: too wide rather than too narrow).
    assert uncertainty.auroc(seen.epistemic_std.ravel(), unseen.epistemic_std.ravel()) >= 0.9
    assert uncertainty.interval_coverage(seen.mean, seen.std, test_y) >= 0.9
    served = tf.saved_model.load(str(export_model(model, tmp_path, mc_samples=8, target_scale=(5.0, 2.0))))
    answer = served.signatures["serving_default"](inputs=tf.constant(test_x[:4]))
    assert set(answer) == {"mean", "std", "aleatoric_std", "epistemic_std"}
    assert read_card(tmp_path / "lstm_sequence" / "1")["head"] == "normal"
    with pytest.raises(ValueError, match=r"`distribution` is for task='regression'"):
        zoo.build("lstm_sequence", task="classification", distribution="normal")
    with pytest.raises(ValueError, match=r"`distribution` must be None \(plain values\) or 'normal'"):
        zoo.build("lstm_sequence", distribution="laplace")


@pytest.mark.parametrize("name, config", [
    ("lstm_sequence", {"lstm_units": [16], "distribution": "normal", "ensemble_size": 5}),
    ("bayesian_lstm", {"input_shape": (12, 1), "lstm_units": (16,), "num_train_examples": 2000}),
], ids=["ensemble of 5 Normal-headed LSTMs", "bayesian_lstm"])
def test_lstm_intervals_cover_90_to_98_percent_and_their_std_flags_unseen_values(name, config):
    from zoo import uncertainty

    (x, y), (test_x, test_y), unlike = _last_three_task()
    keras.utils.set_random_seed(0)
    model = zoo.build(name, **config)
    if name == "bayesian_lstm":
        model.optimizer.learning_rate = 3e-3
    model.fit(x, y, epochs=20, batch_size=64, verbose=0)
    seen = uncertainty.predict_with_uncertainty(model, test_x, samples=32)
    unseen = uncertainty.predict_with_uncertainty(model, unlike, samples=32)
    # Measured over seeds 0-2 (benchmarks/RESULTS.md): coverage 0.93-0.96, AUROC 1.00 for both.
    assert 0.90 <= uncertainty.interval_coverage(seen.mean, seen.std, test_y) <= 0.98
    assert uncertainty.auroc(seen.std.ravel(), unseen.std.ravel()) >= 0.9
    assert float(np.sqrt(np.mean((seen.mean - test_y) ** 2))) < 0.15  # the noise alone is 0.1


def test_attention_weights_are_a_distribution_over_the_unmasked_steps_only(tmp_path):
    from zoo.export import export_model
    from zoo.layers.attention import attention_model

    text = zoo.build("lstm_text", vocab_size=50, embedding_dim=8)  # attention pooling by default
    padded = np.concatenate([TOKENS, np.zeros((2, 3), "int32")], 1)
    weights = keras.ops.convert_to_numpy(attention_model(text)(padded))
    assert weights.shape == (2, 8)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    assert np.all(weights[:, 5:] == 0.0) and np.all(weights[:, :5] > 0.0)  # padding: exactly no weight
    # Unpadded, the same tokens get the same weights.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(attention_model(text)(TOKENS)), weights[:, :5], atol=1e-6)

    sequence = zoo.build("lstm_sequence", input_shape=(None, 1), mask_value=0.0, attention_pooling=True)
    series = np.random.default_rng(0).uniform(0.1, 1.0, size=(3, 6, 1)).astype("float32")
    series[0, 4:] = 0.0  # the first series is 4 steps long
    weights = keras.ops.convert_to_numpy(attention_model(sequence)(series))
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    assert np.all(weights[0, 4:] == 0.0) and np.all(weights[1:] > 0.0)

    # The export serves them as its `attention` signature, beside serving_default.
    import tensorflow as tf

    path = export_model(sequence, tmp_path, name="seq", input_name="sequence", warmup_inputs=series[:1])
    loaded = tf.saved_model.load(str(path))
    assert set(loaded.signatures) == {"serving_default", "attention"}
    from zoo.export import read_card

    assert read_card(path)["extra_signatures"] == {"attention": ["attention"]}  # so clients can find it
    served = loaded.signatures["attention"](sequence=tf.constant(series))["attention"].numpy()
    np.testing.assert_allclose(served, weights, atol=1e-6)
    with pytest.raises(ValueError, match="has no attention pooling layer.*attention_pooling=True"):
        attention_model(zoo.build("lstm_sequence"))
