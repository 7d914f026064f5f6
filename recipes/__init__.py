"""The training recipes: one short script per model x dataset, installed as `zoo.recipes`.

Run one by name from any directory (`zoo train lenet_mnist --dataset digits`), by path in a
checkout (`python recipes/lenet_mnist.py`), or copy one as the start of your own.
"""
