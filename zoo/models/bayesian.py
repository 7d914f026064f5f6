"""Bayesian neural networks whose layers are `zoo.layers.variational` (TFP maths, Keras 3).

Every forward pass samples weights from the posterior, so predictions are random draws;
`zoo.uncertainty.predict_with_uncertainty` averages many of them. The KL term is added by
the layers and scaled by 1 / `num_train_examples`, so training minimises the negative ELBO
per example: set `num_train_examples` to the size of the training set.

These models need the TensorFlow backend (TFP runs on TensorFlow).
"""

from __future__ import annotations

from zoo._lazy import lazy_import
from zoo.heads import classifier_head, logits_head
from zoo.models._compile import compile_bayesian_classifier
from zoo.models.lenet import PIXELS
from zoo.registry import InputSpec, Reference, register_model
from zoo.validation import check_lenet_geometry, one_of

keras = lazy_import("keras")
variational = lazy_import("zoo.layers.variational")  # TensorFlow Probability: on first build
zoo_layers = lazy_import("zoo.layers")

__all__ = ["bayesian_lenet", "bayesian_lstm", "bayesian_mlp"]

WEN_2018 = Reference(
    "Y. Wen, P. Vicol, J. Ba, D. Tran and R. Grosse. Flipout: Efficient pseudo-independent "
    "weight perturbations on mini-batches. ICLR 2018.", "https://arxiv.org/abs/1803.04386")
BLUNDELL_2015 = Reference(
    "C. Blundell, J. Cornebise, K. Kavukcuoglu and D. Wierstra. Weight uncertainty in neural "
    "networks. ICML 2015.", "https://arxiv.org/abs/1505.05424")


def _compile_bayesian_mlp(model, config) -> None:
    if config["task"] == "classification":
        compile_bayesian_classifier(model, config)
    else:  # the loss adds the KL term; `data_nll` reports the Gaussian NLL alone
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=variational.GaussianNLL(),
                      metrics=[keras.metrics.MeanMetricWrapper(variational.gaussian_nll, name="data_nll")])


def _bayesian_mlp_head(config) -> str:
    return classifier_head(config["num_classes"]) if config["task"] == "classification" else "normal"


def _check_task(config) -> None:
    one_of("classification", "regression")("task", config["task"])


@register_model(
    family="bayesian",
    task="tabular classification",
    summary="Bayesian MLP (Flipout dense layers): class logits, or a Normal mean and std (task=).",
    input=InputSpec(value_range=(0.0, 1.0)),
    output_shape=lambda c: (None, c["num_classes"] if c["task"] == "classification" else 2 * c["num_outputs"]),
    output="logits (classification) or [means, raw scales] of a Normal (regression)",
    head=_bayesian_mlp_head,
    tags=("bayesian", "uncertainty", "tfp"),
    reference=BLUNDELL_2015,
    compile=_compile_bayesian_mlp,
    validate=_check_task,
    deterministic=False,
    params=(469898, 3),
    flops=None,
    backends=("tensorflow",),
)
def bayesian_mlp(input_shape=(784,), task="classification", num_classes=10, num_outputs=1,
                 hidden_units=(256, 128), activation="relu", num_train_examples=60000,
                 prior_std=1.0, posterior_std_init=1e-3, seed=0):
    """A multilayer perceptron of `DenseFlipout` layers; inputs of any rank are flattened.

    Example:
        >>> model = zoo.build("bayesian_mlp", input_shape=(4,), num_classes=3, num_train_examples=120)  # doctest: +SKIP
    """
    common = dict(num_train_examples=num_train_examples, prior_std=prior_std,
                  posterior_std_init=posterior_std_init)
    inputs = keras.Input(input_shape, name="inputs")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    for i, units in enumerate(hidden_units):
        x = variational.DenseFlipout(units, activation=activation, seed=seed + i, name=f"dense_{i + 1}", **common)(x)
    width = num_classes if task == "classification" else 2 * num_outputs
    name = "logits" if task == "classification" else "normal_params"
    outputs = variational.DenseFlipout(width, seed=seed + len(hidden_units), name=name, **common)(x)
    return keras.Model(inputs, outputs)


@register_model(
    family="bayesian",
    task="image classification",
    summary="Bayesian LeNet: Flipout convolutions and dense layers over LeNet's layout.",
    input=PIXELS,
    tags=("bayesian", "uncertainty", "tfp", "convolutional", "mnist"),
    reference=WEN_2018,
    head=logits_head,
    compile=compile_bayesian_classifier,
    validate=check_lenet_geometry,
    input_rank=3,
    deterministic=False,
    params=(123176, 5),
    flops=None,
    backends=("tensorflow",),
)
def bayesian_lenet(input_shape=(28, 28, 1), num_classes=10, filters=(6, 16), kernel_size=5,
                   dense_units=(120, 84), num_train_examples=60000, prior_std=1.0,
                   posterior_std_init=1e-3, seed=0):
    """LeNet's layout (as `lenet`, without dropout) with `Conv2DFlipout` and `DenseFlipout`.

    Takes raw 0-255 pixels like `lenet`. LeCun et al. (1998) for the layout; Wen et al.
    (2018) for Flipout.

    Example:
        >>> model = zoo.build("bayesian_lenet", num_train_examples=60000)  # doctest: +SKIP
    """
    common = dict(num_train_examples=num_train_examples, prior_std=prior_std,
                  posterior_std_init=posterior_std_init)
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = variational.Conv2DFlipout(filters[0], kernel_size, padding="same", activation="relu",
                                  seed=seed, name="conv_1", **common)(x)
    x = keras.layers.MaxPooling2D(2, name="pool_1")(x)
    x = variational.Conv2DFlipout(filters[1], kernel_size, activation="relu", seed=seed + 1,
                                  name="conv_2", **common)(x)
    x = keras.layers.MaxPooling2D(2, name="pool_2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units):
        x = variational.DenseFlipout(units, activation="relu", seed=seed + 2 + i,
                                     name=f"dense_{i + 1}", **common)(x)
    outputs = variational.DenseFlipout(num_classes, seed=seed + 2 + len(dense_units),
                                       name="logits", **common)(x)
    return keras.Model(inputs, outputs)


FORTUNATO_2017 = Reference(
    "M. Fortunato, C. Blundell and O. Vinyals. Bayesian recurrent neural networks. arXiv 2017; "
    "Flipout for LSTMs as in Edward2's LSTMCellFlipout (Wen et al. 2018).", "https://arxiv.org/abs/1704.02798")


def _bayesian_lstm_head(config) -> str:
    return classifier_head(config["num_outputs"]) if config["task"] == "classification" else "normal"


def _bayesian_lstm_units(config) -> int:
    return config["num_outputs"] if config["task"] == "classification" else 2 * config["num_outputs"]


_BAYESIAN_LSTM = dict(
    family="bayesian",
    output_shape=lambda c: (None, _bayesian_lstm_units(c)),
    output="logits (task='classification') or [means, raw scales] of a Normal (regression)",
    head=_bayesian_lstm_head,
    reference=FORTUNATO_2017,
    compile=_compile_bayesian_mlp,
    validate=_check_task,
    deterministic=False,
    flops=None,  # grows with the sequence length
    backends=("tensorflow",),
)


def _bayesian_recurrent(inputs, x, task, num_outputs, lstm_units, attention_pooling, seed, **common):
    """`LSTMFlipout` layers and a `DenseFlipout` output over the (masked) sequence `x`."""
    for i, units in enumerate(lstm_units, start=1):
        sequences = attention_pooling or i < len(lstm_units)
        x = variational.LSTMFlipout(units, return_sequences=sequences, seed=seed + i, name=f"lstm_{i}", **common)(x)
    if attention_pooling:
        x = zoo_layers.AttentionPooling1D(name="attention_pooling")(x)
    name = "logits" if task == "classification" else "normal_params"
    outputs = variational.DenseFlipout(_bayesian_lstm_units({"task": task, "num_outputs": num_outputs}),
                                       seed=seed, name=name, **common)(x)
    return keras.Model(inputs, outputs)


@register_model(
    task="regression",
    summary="Bayesian LSTM (Flipout kernels) over numeric sequences: a Normal per value, or logits (task=).",
    input=InputSpec(value_range=(-1.0, 1.0)),
    tags=("bayesian", "uncertainty", "tfp", "recurrent", "time-series"),
    input_rank=2,
    params=(8706, 2),
    **_BAYESIAN_LSTM,
)
def bayesian_lstm(input_shape=(None, 1), task="regression", num_outputs=1, lstm_units=(32,),
                  attention_pooling=False, mask_value=None, num_train_examples=1000, prior_std=1.0,
                  posterior_std_init=1e-3, seed=0):
    """Stacked `LSTMFlipout` layers and a `DenseFlipout` output over sequences of feature vectors
    (time, features): each prediction runs every sequence with one sample of all weights, fixed
    over its time steps. Steps whose features all equal `mask_value` are padding and skipped.
    Regression outputs a Normal's mean and raw scale per value (`GaussianNLL` plus the KL),
    classification logits.

    Example:
        >>> model = zoo.build("bayesian_lstm", input_shape=(24, 1), num_train_examples=500)  # doctest: +SKIP
    """
    inputs = keras.Input(input_shape, name="sequence")
    x = inputs if mask_value is None else keras.layers.Masking(mask_value, name="masking")(inputs)
    return _bayesian_recurrent(inputs, x, task, num_outputs, lstm_units, attention_pooling, seed,
                               num_train_examples=num_train_examples, prior_std=prior_std,
                               posterior_std_init=posterior_std_init)


@register_model(
    task="text classification",
    summary="Bayesian LSTM over token ids: masked embedding, Flipout LSTM kernels, Flipout logits.",
    input=InputSpec(dtype="int32", value_range=(0, "vocab_size"), integer=True),
    tags=("bayesian", "uncertainty", "tfp", "recurrent", "text"),
    input_rank=1,
    params=(1307010, 2),
    **_BAYESIAN_LSTM,
)
def bayesian_lstm_text(input_shape=(None,), task="classification", num_outputs=2, vocab_size=20000,
                       embedding_dim=64, lstm_units=(32,), attention_pooling=True, num_train_examples=25000,
                       prior_std=1.0, posterior_std_init=1e-3, seed=0):
    """`bayesian_lstm` over token ids with 0 as padding (masked), embedded by a point-estimate
    `Embedding`: the recurrent and output weights are Bayesian, the embedding is not.

    Example:
        >>> model = zoo.build("bayesian_lstm_text", vocab_size=5000, num_train_examples=2000)  # doctest: +SKIP
    """
    inputs = keras.Input(input_shape, dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")(inputs)
    return _bayesian_recurrent(inputs, x, task, num_outputs, lstm_units, attention_pooling, seed,
                               num_train_examples=num_train_examples, prior_std=prior_std,
                               posterior_std_init=posterior_std_init)
