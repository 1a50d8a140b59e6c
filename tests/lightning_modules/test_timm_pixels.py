"""The eval crop is timm's, pixel for pixel: what validation scored is what a user gets from
`timm.data.create_transform(**resolve_data_config(model=...))` on a model taken home.

On real photos (scikit-learn's two bundled samples, 640x427) stored as PNG and JPEG, cut
to several shapes, in RGB and grayscale, at the resolutions and crops a user meets."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_images
from timm.data import create_transform, resolve_data_config

from lightning_modules.exported import data_config
from lightning_modules.transforms import DecodeCrop

SHAPES = [(640, 427), (427, 640), (300, 300), (50, 37)]  # wide, tall, square, upsampled


def photos() -> list[tuple[str, bytes]]:
    """Each sample photo at each of SHAPES, as PNG and as JPEG (q90)."""
    stored = []
    for index, pixels in enumerate(load_sample_images().images):
        for shape in SHAPES:
            image = Image.fromarray(pixels).resize(shape, Image.Resampling.BILINEAR)
            for fmt in ("PNG", "JPEG"):
                out = io.BytesIO()
                image.save(out, fmt, quality=90)
                stored.append((f"photo{index} {shape[0]}x{shape[1]} {fmt}", out.getvalue()))
    return stored


PHOTOS = photos()


def timm_pixels(data: bytes, mode: str, size: int, crop_pct: float) -> torch.Tensor:
    """What a user of timm feeds the exported model, as the uint8 pixels it normalised."""
    config = resolve_data_config(pretrained_cfg=data_config(size, len(mode), crop_pct))
    floats = create_transform(**config)(Image.open(io.BytesIO(data)).convert(mode))
    mean = torch.tensor(config["mean"]).view(-1, 1, 1)
    std = torch.tensor(config["std"]).view(-1, 1, 1)
    return ((floats * std + mean) * 255).round().to(torch.uint8)


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("crop_pct", [0.875, 1.0])
@pytest.mark.parametrize("size", [28, 64, 224])
def test_the_eval_crop_is_timms_pixel_for_pixel(mode, crop_pct, size):
    for name, data in PHOTOS:
        ours = DecodeCrop(size, mode, crop_pct)(Image.open(io.BytesIO(data)))
        assert ours.shape == (len(mode), size, size), name
        assert torch.equal(ours, timm_pixels(data, mode, size, crop_pct)), name


def test_the_eval_crop_is_a_real_crop_not_the_whole_image():
    """crop_pct 0.875 drops the border that 1.0 keeps: the comparison above can fail."""
    _, data = PHOTOS[0]
    whole = DecodeCrop(64, "RGB", 1.0)(Image.open(io.BytesIO(data)))
    cropped = DecodeCrop(64, "RGB", 0.875)(Image.open(io.BytesIO(data)))
    assert np.abs(whole.float().numpy() - cropped.float().numpy()).mean() > 5
