"""Small-image crops: the whole image at evaluation, CIFAR's pad-and-crop in training."""

from __future__ import annotations

import random

import numpy as np
from PIL import Image

from lightning_modules.transforms import DecodeCrop


def fashion_like(size: int = 28) -> Image.Image:
    """A 28x28 grayscale image whose border pixels are all distinct from 0."""
    pixels = np.arange(size * size, dtype=np.int64).reshape(size, size) % 250 + 5
    return Image.fromarray(pixels.astype(np.uint8), mode="L")


def test_eval_with_crop_pct_one_keeps_every_border_pixel():
    image = fashion_like()
    whole = DecodeCrop(28, "L", crop_pct=1.0)(image.copy())
    assert np.array_equal(whole[0].numpy(), np.asarray(image))  # bit-exact at its own size
    cut = DecodeCrop(28, "L", crop_pct=0.875)(image.copy())
    assert not np.array_equal(cut[0].numpy(), np.asarray(image))  # timm's default zooms in


def shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """`image` moved down `dy` and right `dx` pixels, zeros where nothing moved in."""
    height, width = image.shape
    out = np.zeros_like(image)
    out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = image[
        max(-dy, 0) : height - max(dy, 0), max(-dx, 0) : width - max(dx, 0)
    ]
    return out


def test_pad_crop_translates_the_whole_image_by_up_to_pad_pixels():
    image = np.asarray(fashion_like())
    random.seed(0)
    moves = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)]
    seen = set()
    for _ in range(1000):
        out = DecodeCrop(28, "L", 1.0, pad=4)(Image.fromarray(image))[0].numpy()
        matches = [move for move in moves if np.array_equal(out, shifted(image, *move))]
        assert len(matches) == 1  # a pure translation of the whole image, nothing resized
        seen.add(matches[0])
    assert len(seen) == len(moves)  # every offset of the 9x9 occurs
