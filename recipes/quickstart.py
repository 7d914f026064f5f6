"""Quickstart: browse the catalog, then build and briefly train LeNet on real digits, offline.

    python recipes/quickstart.py [--epochs 10]

The data are scikit-learn's bundled handwritten digits (1,797 images of 8x8 pixels, 17 grey
levels), scaled to 0-255 and enlarged to MNIST's 28x28 so the catalog's MNIST-shaped LeNet
takes them unchanged. No download: everything here works on a machine with no internet.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import zoo


def digits_as_mnist(seed: int = 0):
    """scikit-learn's digits as 28x28x1 pixels in [0, 255], split 80/20 with a fixed seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images * (255.0 / 16.0)  # 0-16 grey levels -> 0-255 pixels
    images = np.kron(images, np.ones((3, 3)))  # 8x8 -> 24x24, each pixel a 3x3 block
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None].astype("float32")  # -> 28x28
    return train_test_split(images, digits.target.astype("int32"), test_size=0.2,
                            random_state=seed, stratify=digits.target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default: 10)")
    parser.add_argument("--model", default="lenet", help="an image classifier from the catalog")
    args = parser.parse_args()

    print(f"The catalog has {len(zoo.list_models())} models: {', '.join(zoo.list_models())}")
    card = zoo.describe(args.model)
    print(f"\n{card.name}: {card.summary}\n  {card.trainable_params:,} trainable parameters, "
          f"input {card.input_shape} pixels in {card.input_range}\n")

    x_train, x_test, y_train, y_test = digits_as_mnist()
    import keras

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
