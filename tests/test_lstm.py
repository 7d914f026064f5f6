"""Recurrent models: padding must never change a prediction; `task=` picks the head."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo


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
