"""The digits demo: scikit-learn's 1,797 8x8 handwritten digits, no download needed."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipeline.data.samples import Sample, ShardSource, png_bytes

VAL_FRACTION = 0.2
SIZE = 32  # LeNet-5's input size


def digits_source(seed: int) -> ShardSource:
    """sklearn's digits as 32x32 grayscale PNGs, 10 classes '0'..'9'.

    Split: stratified by class, 20% val, `train_test_split(random_state=seed)`, so every
    class keeps its proportion. Upscaled to 32x32 because that is LeNet-5's input, and
    stored as PNG so the upscaled pixels reach the model exactly. Keys are
    `digit_<index in load_digits()>` so a sample can be traced to its source.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    indices = np.arange(len(digits.target))
    train, val = train_test_split(
        indices, test_size=VAL_FRACTION, stratify=digits.target, random_state=seed
    )
    splits = {
        split: [
            Sample(
                key=f"digit_{i:04d}",
                label=int(digits.target[i]),
                origin=f"sklearn load_digits() image {i}",
                data=png_bytes(upscaled(digits.images[i])),
            )
            for i in sorted(chosen)
        ]
        for split, chosen in (("train", train), ("val", val))
    }
    split_info = {
        "method": "stratified by class (sklearn train_test_split)",
        "val_fraction": VAL_FRACTION,
        "seed": seed,
        "image": f"8x8 upscaled bilinear to {SIZE}x{SIZE}, grayscale PNG",
    }
    names = [str(c) for c in digits.target_names]
    return ShardSource(names, splits, "sklearn.datasets.load_digits", split_info, channels=1)


def upscaled(image: np.ndarray) -> np.ndarray:
    """An 8x8 image with values 0..16 -> 32x32 uint8, bilinear."""
    pixels = np.round(image * (255 / 16)).astype(np.uint8)
    resized = Image.fromarray(pixels, mode="L").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    return np.asarray(resized)
