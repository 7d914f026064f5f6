"""MC dropout: dropout that stays on at prediction time (Gal & Ghahramani 2016)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="zoo")
class MCDropout(keras.layers.Dropout):
    """`keras.layers.Dropout` that also drops at inference, so each prediction is a sample
    from an approximate posterior; average many with `zoo.uncertainty.predict_with_uncertainty`.

    Example:
        >>> layer = MCDropout(0.5, seed=0)
        >>> bool((layer(np.ones((1, 100))) == 0).numpy().any())  # doctest: +SKIP
        True
    """

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


@keras.saving.register_keras_serializable(package="zoo")
class MCLSTM(keras.layers.LSTM):
    """`keras.layers.LSTM` whose `dropout` and `recurrent_dropout` stay on at inference:
    variational RNN dropout (Gal & Ghahramani 2016, "A theoretically grounded application of
    dropout in recurrent neural networks"). Keras draws one mask per sequence for the inputs
    and one for the recurrent state, before the time loop, and applies the same masks at every
    time step; each example of a batch gets its own. Each prediction is then one sample of the
    approximate posterior, for `zoo.uncertainty.predict_with_uncertainty`.

    Example:
        >>> layer = MCLSTM(8, dropout=0.25, recurrent_dropout=0.25)
        >>> layer(np.ones((2, 5, 3))).shape  # a new sample at every call  # doctest: +SKIP
        TensorShape([2, 8])
    """

    def call(self, sequences, initial_state=None, mask=None, training=None):
        return super().call(sequences, initial_state=initial_state, mask=mask, training=True)
