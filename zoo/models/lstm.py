"""Recurrent models (Hochreiter & Schmidhuber, 1997): an LSTM text classifier and an LSTM
for numeric sequences (classification or regression/forecasting).

Padding never changes a prediction: token id 0 is padding and is masked from the embedding
on (`lstm_text`), and numeric sequences can name a `mask_value` (`lstm_sequence`). The mask
flows through every LSTM layer (both directions) and the attention pooling.
"""

from __future__ import annotations

from zoo import validation
from zoo._lazy import lazy_import
from zoo.heads import classifier_head, logits_head
from zoo.models._compile import compile_by_head, compile_classifier
from zoo.registry import InputSpec, Reference, register_model

keras = lazy_import("keras")
zoo_layers = lazy_import("zoo.layers")

__all__ = ["lstm_sequence", "lstm_text"]

HOCHREITER_1997 = Reference(
    "S. Hochreiter and J. Schmidhuber. Long short-term memory. Neural Computation 9(8), "
    "1735-1780 (1997).", "https://doi.org/10.1162/neco.1997.9.8.1735")
TASKS = ("classification", "regression")


def _recurrent_stack(x, lstm_units, bidirectional: bool, attention_pooling: bool, mc_dropout: float = 0.0):
    """Stacked (Bi)LSTMs; the last one returns its final state unless attention pools.
    `mc_dropout` > 0: variational dropout of that rate on every LSTM's inputs and recurrent
    state, kept on at prediction (`zoo.layers.MCLSTM`)."""
    for i, units in enumerate(lstm_units, start=1):
        last = i == len(lstm_units)
        sequences = attention_pooling or not last
        layer = (zoo_layers.MCLSTM(units, dropout=mc_dropout, recurrent_dropout=mc_dropout,
                                   return_sequences=sequences, name=f"lstm_{i}")
                 if mc_dropout else keras.layers.LSTM(units, return_sequences=sequences, name=f"lstm_{i}"))
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{i}")
        x = layer(x)
    if attention_pooling:
        x = zoo_layers.AttentionPooling1D(name="attention_pooling")(x)
    return x


def _check_sequence(config) -> None:
    validation.one_of(*TASKS)("task", config["task"])
    if config["mask_value"] is not None:
        validation.real("mask_value", config["mask_value"])
    if config["distribution"] not in (None, "normal"):
        raise ValueError("`distribution` must be None (plain values) or 'normal' (a mean and a std per output). "
                         f"Received: distribution={config['distribution']!r}")
    if config.get("relative_to_last") and (config["task"] != "regression" or config["mask_value"] is not None):
        raise ValueError("`relative_to_last` forecasts changes from a sequence's last step: it is for "
                         "task='regression' without a mask_value (a padded last step has no value). Received: "
                         f"task={config['task']!r}, mask_value={config['mask_value']!r}")
    if config["distribution"] is not None and config["task"] != "regression":
        raise ValueError("`distribution` is for task='regression'. "
                         f"Received: distribution={config['distribution']!r}, task={config['task']!r}")


def _sequence_head(config) -> str:
    if config["task"] == "classification":
        return classifier_head(config["num_outputs"])
    return "normal" if config["distribution"] == "normal" else "values"


def _sequence_units(config) -> int:
    return 2 * config["num_outputs"] if config["distribution"] == "normal" else config["num_outputs"]


@register_model(
    family="lstm",
    task="text classification",
    summary="Token ids -> masked embedding -> (Bi)LSTM stack -> attention pooling -> logits.",
    input=InputSpec(dtype="int32", value_range=(0, "vocab_size"), integer=True),
    output_shape=(None, "num_classes"),
    head=logits_head,
    tags=("recurrent", "text", "imdb"),
    reference=HOCHREITER_1997,
    compile=compile_classifier,
    input_rank=1,
    params=(2667394, 0),
    flops=None,  # grows with the sequence length
)
def lstm_text(input_shape=(None,), vocab_size=20000, embedding_dim=128, lstm_units=(64,),
              bidirectional=True, attention_pooling=True, dropout=0.2, num_classes=2, mc_dropout=False):
    """Integer token ids with 0 as padding (masked); ids must lie in [0, vocab_size).
    Dropout applies to the embeddings and to the pooled features. `mc_dropout=True` makes the
    model Bayesian in Gal & Ghahramani's sense: variational dropout (one mask per sequence, the
    same at every step) on each LSTM's inputs and recurrent state instead of the embedding
    dropout, kept on at prediction like the dropout on the pooled features."""
    validation.check_mc_dropout(mc_dropout, dropout)
    inputs = keras.Input(input_shape, dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")(inputs)
    if dropout and not mc_dropout:
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    x = _recurrent_stack(x, lstm_units, bidirectional, attention_pooling, dropout if mc_dropout else 0.0)
    if dropout:
        x = (zoo_layers.MCDropout if mc_dropout else keras.layers.Dropout)(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="lstm_text")


@register_model(
    family="lstm",
    task="regression",
    summary="LSTM over numeric sequences for forecasting/regression or classification (task=).",
    input=InputSpec(value_range=(-1.0, 1.0)),
    output_shape=(None, _sequence_units),
    output="values, or a Normal's [means, raw scales] (distribution='normal'), or logits (task='classification')",
    head=_sequence_head,
    tags=("recurrent", "time-series"),
    reference=HOCHREITER_1997,
    compile=compile_by_head,
    validate=_check_sequence,
    input_rank=2,
    params=(16961, 0),
    flops=None,  # grows with the sequence length
)
def lstm_sequence(input_shape=(None, 1), task="regression", num_outputs=1, lstm_units=(64,),
                  bidirectional=False, attention_pooling=False, dropout=0.0, mask_value=None, mc_dropout=False,
                  distribution=None, relative_to_last=False):
    """Sequences of feature vectors, shape (time, features). `num_outputs` is the number of
    predicted values (e.g. the forecast horizon) or, for classification, of classes. Steps
    whose features all equal `mask_value` are padding and are skipped. `mc_dropout=True`
    (needs dropout > 0) adds variational dropout of rate `dropout` to each LSTM's inputs and
    recurrent state and keeps all dropout on at prediction (Gal & Ghahramani 2016).
    `distribution="normal"` (regression) outputs a Normal's mean and raw scale per value and
    trains on its negative log-likelihood (`GaussianNLL`, TensorFlow backend): the model says
    how noisy each prediction is, and exports serve `mean` and `std`. `relative_to_last=True`
    (regression) feeds the LSTM each step's difference from the last step and adds the last
    step's first feature back to the predicted values (means): forecasts of a series that
    trends out of its training range (`zoo.layers.relative`)."""
    validation.check_mc_dropout(mc_dropout, dropout)
    if distribution is not None and keras.backend.backend() != "tensorflow":
        raise RuntimeError("lstm_sequence with distribution='normal' trains with TensorFlow Probability's Normal: "
                           f"set KERAS_BACKEND=tensorflow. Keras is using {keras.backend.backend()!r}.")
    inputs = keras.Input(input_shape, name="sequence")
    x = inputs
    if mask_value is not None:
        x = keras.layers.Masking(mask_value, name="masking")(x)
    if relative_to_last:
        x = zoo_layers.DifferenceFromLast(name="difference_from_last")(x)
    x = _recurrent_stack(x, lstm_units, bidirectional, attention_pooling, dropout if mc_dropout else 0.0)
    if dropout:
        x = (zoo_layers.MCDropout if mc_dropout else keras.layers.Dropout)(dropout, name="dropout")(x)
    units = _sequence_units({"num_outputs": num_outputs, "distribution": distribution})
    if relative_to_last:
        changes = keras.layers.Dense(units, name="changes")(x)
        outputs = zoo_layers.AddLast(num_outputs, name="normal_params" if distribution else "values")(changes, inputs)
    else:
        name = "logits" if task == "classification" else "normal_params" if distribution else "values"
        outputs = keras.layers.Dense(units, name=name)(x)
    return keras.Model(inputs, outputs, name="lstm_sequence")
