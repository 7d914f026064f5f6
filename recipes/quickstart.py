"""Quickstart: browse the catalog, then build and briefly train LeNet on real digits, offline.

    python recipes/quickstart.py [--epochs 10]

The data are the bundled `digits` dataset (zoo/data/digits.py): scikit-learn's handwritten
digits laid out as MNIST's 28x28 uint8 images, so the catalog's MNIST-shaped LeNet takes them
unchanged. No download: everything here works on a machine with no internet.
"""

from __future__ import annotations

import argparse
import time

import zoo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default: 10)")
    parser.add_argument("--model", default="lenet", help="an image classifier from the catalog")
    args = parser.parse_args()

    print(f"The catalog has {len(zoo.list_models())} models: {', '.join(zoo.list_models())}")
    card = zoo.describe(args.model)
    print(f"\n{card.name}: {card.summary}\n  {card.trainable_params:,} trainable parameters, "
          f"input {card.input_shape} pixels in {card.input_range}\n")

    import keras

    from zoo.data.digits import digits_arrays

    (x_train, y_train), (x_test, y_test) = digits_arrays("train"), digits_arrays("test")

    keras.utils.set_random_seed(0)
    model = zoo.build(args.model)  # compiled: Adam, cross-entropy on logits, accuracy
    start = time.perf_counter()
    model.fit(x_train, y_train, validation_split=0.1, epochs=args.epochs, batch_size=32, verbose=2)
    seconds = time.perf_counter() - start
    metrics = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    print(f"\n{args.model} trained {args.epochs} epochs on {len(x_train)} digits in {seconds:.1f} s: "
          f"test accuracy {metrics['accuracy']:.3f} on {len(x_test)} held-out digits")


if __name__ == "__main__":
    main()
