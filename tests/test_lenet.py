"""LeNet-5 as published, and the modern LeNet: layer by layer where the paper is specific."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
from zoo.layers import LENET5_C3_TABLE


def _layer_params(model, name):
    return sum(int(np.prod(w.shape)) for w in model.get_layer(name).trainable_weights)


def test_lenet5_layers_have_the_papers_shapes_and_parameter_counts():
    model = zoo.build("lenet5")
    shapes = {name: model.get_layer(name).output.shape[1:] for name in
              ("pad_to_32", "c1", "s2", "c3", "s4", "c5", "f6", "logits")}
    assert shapes == {"pad_to_32": (32, 32, 1), "c1": (28, 28, 6), "s2": (14, 14, 6),
                      "c3": (10, 10, 16), "s4": (5, 5, 16), "c5": (1, 1, 120), "f6": (84,),
                      "logits": (10,)}
    # LeCun et al. 1998, Sec. II-B: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164.
    counts = {name: _layer_params(model, name) for name in ("c1", "s2", "c3", "s4", "c5", "f6")}
    assert counts == {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164}


def test_lenet5_c3_follows_table_one():
    # Row 0 of Table I: S2 map 0 feeds C3 maps 0, 4, 5, 6, 9, 10, 11, 12, 14, 15.
    assert [j for j, inputs in enumerate(LENET5_C3_TABLE) if 0 in inputs] == [
        0, 4, 5, 6, 9, 10, 11, 12, 14, 15]
    assert [len(inputs) for inputs in LENET5_C3_TABLE] == [3] * 6 + [4] * 9 + [6]
    kernel = keras.ops.convert_to_numpy(zoo.build("lenet5").get_layer("c3").full_kernel())
    for j, inputs in enumerate(LENET5_C3_TABLE):
        for i in range(6):
            connected = np.any(kernel[:, :, i, j] != 0)
            assert connected == (i in inputs), (i, j)


def test_lenet5_pads_with_background_and_maps_pixels_to_the_papers_range():
    model = zoo.build("lenet5")
    rescale = keras.Model(model.input, model.get_layer("rescale").output)
    pixels = np.full((1, 28, 28, 1), 255.0, "float32")
    out = keras.ops.convert_to_numpy(rescale(pixels))[0, :, :, 0]
    assert out[0, 0] == pytest.approx(-0.1)  # padding is background
    assert out[16, 16] == pytest.approx(1.175)  # foreground


def test_lenet5_rejects_images_larger_than_32_with_advice():
    with pytest.raises(ValueError, match=r"32x32.*Received: input_shape=\(64, 64, 1\).*'lenet'"):
        zoo.build("lenet5", input_shape=(64, 64, 1))


def test_lenet_takes_raw_pixels_and_any_size_from_12():
    model = zoo.build("lenet", input_shape=(32, 32, 3), num_classes=100, dropout=0.3)
    assert model.output_shape == (None, 100)
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.3, 0.3]
    assert model.get_layer("rescale").scale == pytest.approx(1 / 255)
    assert zoo.build("lenet", input_shape=(12, 12, 1)).output_shape == (None, 10)
    with pytest.raises(ValueError, match=r"at least 12x12\. Received: input_shape=\(8, 8, 1\)"):
        zoo.build("lenet", input_shape=(8, 8, 1))


def test_lenet_batch_norm_option_replaces_conv_biases():
    model = zoo.build("lenet", batch_norm=True)
    assert [type(layer).__name__ for layer in model.layers].count("BatchNormalization") == 2
    assert model.get_layer("conv_1").bias is None
