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
