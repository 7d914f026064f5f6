"""LeNet-5 as published (LeCun, Bottou, Bengio & Haffner, 1998) and a modern LeNet.

Both take raw pixel values in [0, 255]: rescaling is the model's first layer, so an
exported model accepts the pixels a client has and nobody guesses the preprocessing.

`lenet5` follows the paper: 32×32 input (smaller images are zero-padded by the model, as
the paper padded MNIST's 28×28 digits), pixels mapped to [-0.1, 1.175], C1 6@5×5,
S2 trainable subsampling, C3 16@5×5 with the paper's connection table, S4, C5 120@5×5,
F6 84, all with the scaled tanh 1.7159·tanh(2a/3). Two deliberate departures: the output
is a dense layer of logits instead of the paper's fixed Euclidean RBF units, and training
uses cross-entropy instead of the paper's MAP criterion.

`lenet` is the variant the recipes train: ReLU, max-pooling and dropout on LeNet's layout.
"""

from __future__ import annotations

from zoo._lazy import lazy_import
from zoo.heads import logits_head
from zoo.models._compile import compile_classifier
from zoo.registry import InputSpec, Reference, ReferenceResult, register_model
from zoo.validation import check_lenet_geometry, check_mc_dropout

keras = lazy_import("keras")
zoo_layers = lazy_import("zoo.layers")

__all__ = ["lenet", "lenet5"]

LECUN_1998 = Reference(
    "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner. Gradient-based learning applied to "
    "document recognition. Proceedings of the IEEE 86(11), 2278-2324 (1998).",
    "https://doi.org/10.1109/5.726791")
PIXELS = InputSpec(dtype="float32", value_range=(0, 255), integer=True)


def _check_lenet5(config) -> None:
    height, width, _ = config["input_shape"]
    if height > 32 or width > 32:
        raise ValueError(
            "LeNet-5 is defined on 32x32 images; smaller ones are zero-padded to 32x32. "
            f"Received: input_shape={config['input_shape']!r}. Resize the images to at most "
            "32x32, or use 'lenet', which takes any size from 12x12.")


@register_model(
    family="lenet",
    task="image classification",
    summary="LeNet-5 as published: 32x32 input, trainable subsampling, C3 connection table, tanh.",
    input=PIXELS,
    tags=("classic", "convolutional", "mnist"),
    reference=LECUN_1998,
    reference_result=ReferenceResult(
        "mnist", "accuracy", 0.9905,
        "LeCun et al. 1998, Sec. III-C: 0.95% test error without distortions (0.8% with)."),
    head=logits_head,
    compile=compile_classifier,
    validate=_check_lenet5,
    input_rank=3,
    params=(60850, 0),
    flops=1156806,
)
def lenet5(input_shape=(28, 28, 1), num_classes=10):
    """LeNet-5 on raw pixels; images smaller than 32x32 are centred on a 32x32 zero canvas."""
    height, width, _ = input_shape
    squash = zoo_layers.lecun_tanh
    inputs = keras.Input(input_shape, name="pixels")
    x = inputs
    pad_h, pad_w = 32 - height, 32 - width
    if pad_h or pad_w:
        # Padding raw pixels with 0 pads with background, as the paper padded the digits.
        x = keras.layers.ZeroPadding2D(((pad_h // 2, pad_h - pad_h // 2),
                                        (pad_w // 2, pad_w - pad_w // 2)), name="pad_to_32")(x)
    # The paper maps background (0) to -0.1 and foreground (255) to 1.175.
    x = keras.layers.Rescaling(1.275 / 255.0, offset=-0.1, name="rescale")(x)
    x = keras.layers.Conv2D(6, 5, activation=squash, name="c1")(x)
    x = zoo_layers.Subsampling2D(2, activation=squash, name="s2")(x)
    x = zoo_layers.ConnectionTableConv2D(zoo_layers.LENET5_C3_TABLE, 5, activation=squash,
                                         name="c3")(x)
    x = zoo_layers.Subsampling2D(2, activation=squash, name="s4")(x)
    x = keras.layers.Conv2D(120, 5, activation=squash, name="c5")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(84, activation=squash, name="f6")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="lenet5")


@register_model(
    family="lenet",
    task="image classification",
    summary="Modern LeNet: LeNet's layout with ReLU, max-pooling and dropout; any image size.",
    input=PIXELS,
    tags=("convolutional", "mnist"),
    reference=LECUN_1998,
    head=logits_head,
    compile=compile_classifier,
    validate=check_lenet_geometry,
    input_rank=3,
    params=(61706, 0),
    flops=847430,
)
def lenet(input_shape=(28, 28, 1), num_classes=10, filters=(6, 16), kernel_size=5,
          dense_units=(120, 84), dropout=0.25, batch_norm=False, mc_dropout=False):
    """conv('same')-pool-conv('valid')-pool-dense-dense on pixels scaled to [0, 1]; dropout
    after each dense layer, optional batch norm after each convolution. `mc_dropout=True`
    keeps dropout on at prediction time (MC dropout: every prediction is a sample)."""
    check_mc_dropout(mc_dropout, dropout)
    inputs = keras.Input(input_shape, name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    for i, (width, padding) in enumerate(zip(filters, ("same", "valid")), start=1):
        x = keras.layers.Conv2D(width, kernel_size, padding=padding, use_bias=not batch_norm,
                                activation=None if batch_norm else "relu", name=f"conv_{i}")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"batch_norm_{i}")(x)
            x = keras.layers.ReLU(name=f"relu_{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
        if dropout:
            drop = zoo_layers.MCDropout if mc_dropout else keras.layers.Dropout
            x = drop(dropout, name=f"dropout_{i}")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="lenet")
