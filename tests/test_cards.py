"""Stored card metadata (shown without TensorFlow) must match the built models."""

from __future__ import annotations

import pytest

import zoo
from zoo import complexity
from zoo.registry import get_spec

WITH_FLOPS = [n for n in zoo.list_models() if get_spec(n).flops is not None]


@pytest.mark.parametrize("name", WITH_FLOPS)
def test_stored_flops_match_the_profiled_model(name):
    card = zoo.describe(name)
    measured = complexity.count_flops(zoo.build(name, compile=False), card.input_shape)
    assert card.flops == measured, f"{name}: update flops= in its register_model call to {measured}"


# Entries with stored sizes (user models may store none: then describe() counts by building).
STORED_WITHOUT_FLOPS = [n for n in zoo.list_models()
                        if get_spec(n).params is not None and n not in WITH_FLOPS]


@pytest.mark.parametrize("name", STORED_WITHOUT_FLOPS)
def test_flops_are_left_out_only_where_they_depend_on_the_input(name):
    # ...or where the model samples its weights: TF's profiler needs a frozen graph, and the
    # seed generator's state update cannot be frozen; or where the cost is per batch, not per
    # example (an exact GP factorises its n x n kernel matrix once per call).
    spec = get_spec(name)
    assert None in zoo.describe(name).input_shape or not spec.deterministic or spec.family == "gp"


def test_flops_of_a_dense_layer_are_two_per_multiply_add_plus_bias():
    model = zoo.build("mlp", input_shape=(5,), hidden_units=[], num_classes=3, compile=False)
    assert complexity.count_flops(model, (5,)) == 2 * 5 * 3 + 3
