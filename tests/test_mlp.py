"""The configurable MLP: XOR, a hand-computed backward pass, and each config option's effect."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import zoo

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
XOR_Y = np.array([[0], [1], [1], [0]], dtype="float32")


def _train_xor(seed: int):
    keras.utils.set_random_seed(seed)
    model = zoo.build("mlp", input_shape=(2,), hidden_units=[2], activation="sigmoid",
                      num_classes=1, compile=False)
    model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True), steps_per_execution=50)
    # 50 copies of the 4 patterns per epoch: 2,400 full-batch-sized SGD steps in all.
    model.fit(np.tile(XOR_X, (50, 1)), np.tile(XOR_Y, (50, 1)), batch_size=4, epochs=48,
              shuffle=False, verbose=0)
    return model


def test_a_2_2_1_mlp_learns_xor():
    # The 2-2-1 XOR net has plateaus that gradient descent does not leave from some initial
    # weights (3 of 10 seeds when measured for this test), so, as in practice,
    # the net is retrained from a new initialisation, up to 5 times.
    for attempt in range(5):
        model = _train_xor(seed=attempt)
        assert [w.shape for w in model.trainable_weights] == [(2, 2), (2,), (2, 1), (1,)]
        predicted = (keras.ops.convert_to_numpy(model(XOR_X)) > 0).astype("float32")
        if np.array_equal(predicted, XOR_Y):
            return
    pytest.fail("a 2-2-1 MLP did not learn XOR from any of 5 initialisations")


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def test_one_sgd_step_reproduces_a_hand_computed_forward_and_backward_pass():
    """2-2-2 sigmoid network, E = ½ Σ (t − o)², one SGD step with η = 0.5.

    Weights, inputs and targets are those of the widely used worked example by M. Mazur
    ("A step by step backpropagation example", 2015), whose published numbers are checked too.
    """
    x, t, lr = (0.05, 0.10), (0.01, 0.99), 0.5
    w_ih = [[0.15, 0.25], [0.20, 0.30]]  # w_ih[i][j]: input i -> hidden j
    w_ho = [[0.40, 0.50], [0.45, 0.55]]  # w_ho[j][k]: hidden j -> output k
    b_h, b_o = 0.35, 0.60

    # Forward, by hand.
    h = [_sigmoid(sum(x[i] * w_ih[i][j] for i in range(2)) + b_h) for j in range(2)]
    o = [_sigmoid(sum(h[j] * w_ho[j][k] for j in range(2)) + b_o) for k in range(2)]
    error = sum(0.5 * (t[k] - o[k]) ** 2 for k in range(2))
    # Backward, by the chain rule: δ = ∂E/∂net.
    delta_o = [(o[k] - t[k]) * o[k] * (1 - o[k]) for k in range(2)]
    delta_h = [sum(delta_o[k] * w_ho[j][k] for k in range(2)) * h[j] * (1 - h[j]) for j in range(2)]
    new_w_ho = [[w_ho[j][k] - lr * delta_o[k] * h[j] for k in range(2)] for j in range(2)]
    new_w_ih = [[w_ih[i][j] - lr * delta_h[j] * x[i] for j in range(2)] for i in range(2)]
    new_b_o = [b_o - lr * delta_o[k] for k in range(2)]
    new_b_h = [b_h - lr * delta_h[j] for j in range(2)]

    model = zoo.build("mlp", input_shape=(2,), hidden_units=[2], activation="sigmoid",
                      num_classes=2, output_activation="sigmoid", compile=False)
    model.set_weights([np.array(w_ih), np.full(2, b_h), np.array(w_ho), np.full(2, b_o)])
    # Keras' MSE averages over the 2 outputs: mean (t − o)² = ½ Σ (t − o)² = E exactly.
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    inputs, targets = np.array([x], "float32"), np.array([t], "float32")

    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(inputs))[0], o, rtol=1e-6)
    loss = model.train_on_batch(inputs, targets)
    assert loss == pytest.approx(error, rel=1e-6)
    got_w_ih, got_b_h, got_w_ho, got_b_o = model.get_weights()
    np.testing.assert_allclose(got_w_ih, new_w_ih, rtol=1e-6)
    np.testing.assert_allclose(got_w_ho, new_w_ho, rtol=1e-6)
    np.testing.assert_allclose(got_b_h, new_b_h, rtol=1e-6)
    np.testing.assert_allclose(got_b_o, new_b_o, rtol=1e-6)

    # The worked example's published figures.
    assert error == pytest.approx(0.298371109, abs=1e-9)
    np.testing.assert_allclose(got_w_ho, [[0.35891648, 0.511301270], [0.408666186, 0.561370121]],
                               atol=1e-6)
    np.testing.assert_allclose(got_w_ih, [[0.149780716, 0.24975114], [0.19956143, 0.29950229]],
                               atol=1e-6)


def test_l1_and_l2_add_the_matching_penalty_to_the_loss():
    model = zoo.build("mlp", input_shape=(3,), hidden_units=[4], l1=0.01, l2=0.1)
    kernels = [w for w in model.trainable_weights if w.path.endswith("kernel")]
    expected = sum(0.01 * np.abs(keras.ops.convert_to_numpy(k)).sum()
                   + 0.1 * np.square(keras.ops.convert_to_numpy(k)).sum() for k in kernels)
    model(np.zeros((1, 3), "float32"))
    penalty = sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses)
    assert penalty == pytest.approx(expected, rel=1e-5)


def test_batch_norm_and_dropout_add_their_layers():
    model = zoo.build("mlp", hidden_units=[8, 4], batch_norm=True, dropout=0.5)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("BatchNormalization") == 2
    assert [layer.rate for layer in model.layers if type(layer).__name__ == "Dropout"] == [0.5, 0.5]


def test_inputs_of_any_rank_are_flattened():
    model = zoo.build("mlp", input_shape=(28, 28, 1), hidden_units=[16])
    assert model.output_shape == (None, 10)
    assert model.get_layer("dense_1").kernel.shape == (784, 16)


@pytest.mark.parametrize("head, loss_type, from_logits", [
    (None, "SparseCategoricalCrossentropy", True),
    ("softmax", "SparseCategoricalCrossentropy", False),
    ("sigmoid", "BinaryCrossentropy", False),
])
def test_compiled_loss_matches_the_output_head(head, loss_type, from_logits):
    num_classes = 1 if head == "sigmoid" else 3
    model = zoo.build("mlp", input_shape=(4,), num_classes=num_classes, output_activation=head)
    assert type(model.loss).__name__ == loss_type
    assert model.loss.get_config()["from_logits"] is from_logits


def test_a_linear_head_is_compiled_for_regression():
    model = zoo.build("mlp", input_shape=(4,), num_classes=2, output_activation="linear")
    assert model.loss == "mse"
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 2), "float32"), epochs=1, verbose=0)
