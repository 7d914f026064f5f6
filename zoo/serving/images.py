"""Ordinary image files as a served model's input: any format Pillow reads, converted to the
shape and dtype the signature declares, with Pillow and NumPy only (no TensorFlow: `zoo predict`
answers in a fraction of a second).

What `read_image` does, and reports in `notes` so the user sees it:
- transparency is laid over white (drawing apps save strokes on a transparent canvas);
- the image becomes grayscale for one channel, RGB for three;
- a non-square image is padded to the model's aspect ratio with its own background, then
  resized to the model's height and width (area-averaging when shrinking);
- when the model was trained on light-on-dark images (its card says `background: dark`, as
  for MNIST's white digits on black) and the image is dark-on-light (how people draw), its
  values are inverted.

Example:
    >>> batch, notes = read_image("digit.png", shape=(28, 28, 1), background="dark")  # doctest: +SKIP
    >>> batch.shape, notes  # doctest: +SKIP
    ((1, 28, 28, 1), ['resized 280x280 -> 28x28', 'inverted: dark strokes on a light background, ...'])
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def read_image(path: str | os.PathLike, *, shape: Sequence[int | None] | None,
               dtype: str = "float32", background: str | None = None) -> tuple[np.ndarray, list[str]]:
    """(a one-example batch, notes on what was done to the image) for a model whose input is
    `shape` (without the batch axis: (height, width, channels); None entries keep the image's
    own size) and `dtype`. `background` is the training images' ("dark", "light" or None).

    Raises `ValueError` naming the file when it is not an image Pillow can read, or when the
    model does not take images.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.seek(0)  # the first frame of an animation
            image = opened.copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise ValueError(f"Cannot read {str(path)!r} as an image ({type(error).__name__}: {error}). "
                         "Expected an image file (PNG, JPEG, ...), a .npy array or a JSON request.") from None
    notes: list[str] = []
    shape = tuple(shape) if shape is not None else (None, None, 3 if image.mode in ("RGB", "RGBA", "P") else 1)
    if len(shape) != 3 or shape[2] not in (1, 3, None):
        raise ValueError(f"The model's input has shape {list(shape)} per example, not an image's "
                         "(height, width, 1 or 3 channels): send a .npy array or a JSON request instead.")
    if image.mode in ("RGBA", "LA", "P", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba)
            notes.append("transparent pixels laid over white")
        else:
            image = rgba
    channels = shape[2] or (3 if image.mode not in ("L", "I", "I;16", "F", "1") else 1)
    mode = "L" if channels == 1 else "RGB"
    if image.mode != mode:
        notes.append(f"converted {image.mode} to {'grayscale' if mode == 'L' else 'RGB'}")
        image = image.convert(mode)
    height, width = shape[0] or image.height, shape[1] or image.width
    if (image.width, image.height) != (width, height):
        before = f"{image.width}x{image.height}"
        if abs(image.width / image.height - width / height) > 0.01:  # pad, do not stretch
            fill = _border_colour(np.asarray(image))
            image = ImageOps.pad(image, _padded_size(image.size, (width, height)), color=fill)
        image = image.resize((width, height), Image.Resampling.BOX if image.width >= width else Image.Resampling.BILINEAR)
        notes.append(f"resized {before} -> {width}x{height}")
    pixels = np.asarray(image, np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if background in ("dark", "light") and _background(pixels) not in (background, None):
        pixels = 255.0 - pixels
        drawn = "dark strokes on a light background" if background == "dark" else "light strokes on a dark background"
        trained = "light on dark" if background == "dark" else "dark on light"
        notes.append(f"inverted: the image has {drawn}, the model was trained on {trained}")
    return pixels.astype(dtype)[None], notes


def _background(pixels: np.ndarray) -> str | None:
    """"dark"/"light" from the median of the image's border, None when it is mid-grey."""
    median = float(np.median(_border(pixels)))
    if median < 96:
        return "dark"
    if median > 160:
        return "light"
    return None


def _border(pixels: np.ndarray) -> np.ndarray:
    return np.concatenate([pixels[0].reshape(-1, pixels.shape[-1] if pixels.ndim == 3 else 1),
                           pixels[-1].reshape(-1, pixels.shape[-1] if pixels.ndim == 3 else 1),
                           pixels[:, 0].reshape(-1, pixels.shape[-1] if pixels.ndim == 3 else 1),
                           pixels[:, -1].reshape(-1, pixels.shape[-1] if pixels.ndim == 3 else 1)])


def _border_colour(pixels: np.ndarray):
    colour = np.median(_border(pixels), axis=0)
    return int(colour[0]) if colour.size == 1 else tuple(int(c) for c in colour)


def _padded_size(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """The smallest size with `target`'s aspect ratio that holds `size`."""
    width, height = size
    ratio = target[0] / target[1]
    return (width, round(width / ratio)) if width / height > ratio else (round(height * ratio), height)
