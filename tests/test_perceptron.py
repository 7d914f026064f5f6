"""McCulloch–Pitts neuron and Rosenblatt's perceptron: logic, the learning rule, convergence."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.datasets import load_iris

import zoo

BINARY_PAIRS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
AND = np.array([0, 0, 0, 1], dtype="float32")
OR = np.array([0, 1, 1, 1], dtype="float32")
XOR = np.array([0, 1, 1, 0], dtype="float32")


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False)).ravel()


def _setosa_vs_versicolor():
    iris = load_iris()
    keep = iris.target < 2  # setosa (0) and versicolor (1) are linearly separable
    return iris.data[keep].astype("float32"), iris.target[keep].astype("float32")


def test_mp_neuron_defaults_compute_and():
    np.testing.assert_array_equal(_predict(zoo.build("mp_neuron"), BINARY_PAIRS), AND)


def test_mp_neuron_computes_or_and_not_from_its_config():
    or_unit = zoo.build("mp_neuron", weights=(1, 1), threshold=1)
    np.testing.assert_array_equal(_predict(or_unit, BINARY_PAIRS), OR)
    not_unit = zoo.build("mp_neuron", weights=(-1,), threshold=0)  # an inhibitory input
    np.testing.assert_array_equal(_predict(not_unit, np.array([[0], [1]], "float32")), [1, 0])


def test_mp_neuron_has_nothing_trainable_and_training_does_not_change_it():
    model = zoo.build("mp_neuron")
    assert model.trainable_weights == []
    model.fit(BINARY_PAIRS, XOR, epochs=3, batch_size=1, verbose=0)
    np.testing.assert_array_equal(_predict(model, BINARY_PAIRS), AND)


def test_one_sgd_step_on_the_perceptron_loss_is_rosenblatts_update():
    model = zoo.build("perceptron", input_shape=(3,), learning_rate=0.25)
    w, b = np.array([[0.5], [-1.0], [2.0]], "float32"), np.array([0.125], "float32")
    model.set_weights([w, b])
    for x, y in [([1.0, 2.0, -0.5], 1.0), ([2.0, 0.0, 1.0], 0.0), ([1.0, 1.0, 1.0], 1.0)]:
        x = np.array([x], "float32")
        y_hat = float((x @ w + b).item() >= 0)  # Heaviside, H(0) = 1
        w = w + 0.25 * (y - y_hat) * x.T  # Δw = η (y − ŷ) x
        b = b + 0.25 * (y - y_hat)
        model.train_on_batch(x, np.array([[y]], "float32"))
        new_w, new_b = model.get_weights()
        np.testing.assert_array_equal(new_w, w)
        np.testing.assert_array_equal(new_b, b)


def _rosenblatt(x, y, epochs, lr=1.0):
    """The perceptron algorithm, written out independently of Keras."""
    w, b, mistakes = np.zeros(x.shape[1]), 0.0, []
    for _ in range(epochs):
        mistakes.append(0)
        for xi, yi in zip(x, y):
            y_hat = float(xi @ w + b >= 0)
            w, b = w + lr * (yi - y_hat) * xi, b + lr * (yi - y_hat)
            mistakes[-1] += int(y_hat != yi)
    return w, b, mistakes


def test_fit_with_batch_size_one_reproduces_the_perceptron_algorithm_exactly():
    x, y = _setosa_vs_versicolor()
    model = zoo.build("perceptron", input_shape=(4,))
    model.fit(x, y, epochs=3, batch_size=1, shuffle=False, verbose=0)
    w, b, _ = _rosenblatt(x.astype("float64"), y, epochs=3)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel.ravel(), w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bias, [b], rtol=1e-5, atol=1e-5)


def _training_errors_per_epoch(model, x, y, epochs):
    errors = []
    for _ in range(epochs):
        model.fit(x, y, epochs=1, batch_size=1, shuffle=False, verbose=0)
        errors.append(int((_predict(model, x) != y).sum()))
    return errors


@pytest.mark.parametrize("name, x, y", [
    ("AND", BINARY_PAIRS, AND),
    ("OR", BINARY_PAIRS, OR),
    ("iris setosa vs versicolor", *_setosa_vs_versicolor()),
])
def test_perceptron_reaches_zero_training_errors_on_separable_data(name, x, y):
    model = zoo.build("perceptron", input_shape=(x.shape[1],))
    errors = _training_errors_per_epoch(model, x, y, epochs=15)
    assert 0 in errors, f"{name}: training errors per epoch {errors}"
    assert errors[-1] == 0  # once separated, no example triggers an update again


def test_perceptron_never_solves_xor():
    model = zoo.build("perceptron")
    errors = _training_errors_per_epoch(model, BINARY_PAIRS, XOR, epochs=25)
    assert min(errors) >= 1, errors  # no line separates XOR, so every epoch errs
