"""A model registered the way a user registers one, from outside the `zoo` package.

conftest.py imports this before collection, so the catalog contract tests cover it with no
test code of its own, exactly as they would a user's model.
"""

import keras

import zoo


def _compile(model, config):
    model.compile(optimizer=keras.optimizers.SGD(config["learning_rate"]), loss="mse")


@zoo.register_model(family="user", task="regression", summary="A user's linear regressor.",
                    input=zoo.InputSpec(value_range=(-1.0, 1.0)), output_shape=(None, 1),
                    head="values", tags=("user",), compile=_compile)
def user_linear_regressor(input_shape=(3,), learning_rate=0.1):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Dense(1)(inputs))
